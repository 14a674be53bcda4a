#[derive(budobserve::BudAttributes)]
struct Request {
    #[bud(skip = true)]
    token: String,
}

fn main() {}
