#[budobserve::instrument(name = "answer")]
fn answer() -> Result<u32, std::io::Error> {
    Ok(42)
}

fn main() {
    let _ = answer();
}
