#[budobserve::instrument(fields(user = 7))]
fn answer() -> Result<u32, std::io::Error> {
    Ok(42)
}

fn main() {
    let _ = answer();
}
