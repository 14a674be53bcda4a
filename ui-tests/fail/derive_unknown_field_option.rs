#[derive(budobserve::BudAttributes)]
struct Request {
    #[bud(hide)]
    token: String,
}

fn main() {}
