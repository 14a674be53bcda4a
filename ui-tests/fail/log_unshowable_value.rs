struct Connection;

fn main() {
    let connection = Connection;
    budobserve::bud_info!("connected to {connection}");
}
