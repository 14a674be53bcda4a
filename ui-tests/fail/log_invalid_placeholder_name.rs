fn main() {
    budobserve::bud_info!("user {user-id} logged in");
}
