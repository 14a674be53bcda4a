fn main() {
    let user_id = 1;
    budobserve::bud_info!("user {user_id logged in");
}
