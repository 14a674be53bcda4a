fn main() {
    budobserve::bud_info!("user {user_id} logged in");
}
