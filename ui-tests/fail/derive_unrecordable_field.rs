struct Connection;

#[derive(budobserve::BudAttributes)]
struct Request {
    connection: Connection,
}

fn main() {}
