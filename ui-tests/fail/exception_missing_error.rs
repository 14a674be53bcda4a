fn main() {
    budobserve::bud_exception!("no error given");
}
