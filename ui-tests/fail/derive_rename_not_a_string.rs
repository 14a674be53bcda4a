#[derive(budobserve::BudAttributes)]
struct Request {
    #[bud(rename = model)]
    model: String,
}

fn main() {}
