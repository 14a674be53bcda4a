#[derive(budobserve::BudAttributes)]
struct Request {
    #[bud(rename)]
    model: String,
}

fn main() {}
