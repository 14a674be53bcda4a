#[budobserve::instrument(record_return = true)]
fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}
