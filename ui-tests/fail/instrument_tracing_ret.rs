#[budobserve::instrument(ret)]
fn answer() -> Result<u32, std::io::Error> {
    Ok(42)
}

fn main() {
    let _ = answer();
}
