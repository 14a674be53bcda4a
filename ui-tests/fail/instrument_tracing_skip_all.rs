#[budobserve::instrument(skip_all)]
fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}
