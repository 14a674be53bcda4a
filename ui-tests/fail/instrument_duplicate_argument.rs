#[budobserve::instrument(record_return, record_return)]
fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}
