struct Client;

impl Client {
    #[budobserve::instrument(extract_args = [self])]
    fn call(&self) {}
}

fn main() {
    Client.call();
}
