#[derive(budobserve::BudAttributes)]
enum Role {
    User,
    Assistant,
}

fn main() {}
