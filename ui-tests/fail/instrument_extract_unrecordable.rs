struct Connection;

#[budobserve::instrument(extract_args = [connection])]
fn query(connection: &Connection) {
    let _ = connection;
}

fn main() {
    query(&Connection);
}
