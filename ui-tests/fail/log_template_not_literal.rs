fn main() {
    let template = "user logged in";
    budobserve::bud_info!(template);
}
