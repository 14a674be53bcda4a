#[budobserve::instrument(record_args)]
fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}
