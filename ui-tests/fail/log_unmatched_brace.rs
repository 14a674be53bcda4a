fn main() {
    budobserve::bud_info!("user } logged in");
}
