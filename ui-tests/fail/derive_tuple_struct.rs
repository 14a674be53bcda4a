#[derive(budobserve::BudAttributes)]
struct Pair(u32, u32);

fn main() {}
