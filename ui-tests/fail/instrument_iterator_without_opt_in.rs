#[budobserve::instrument]
fn numbers(limit: u32) -> impl Iterator<Item = u32> {
    0..limit
}

fn main() {
    let _ = numbers(3).count();
}
