fn main() {
    budobserve::bud_info!("user {id}", id = 1, id = 2);
}
