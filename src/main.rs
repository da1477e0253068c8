//! The one executable; which program it is, is decided by `distcc::main`
//! from argv[0].

fn main() -> std::process::ExitCode {
    distcc::main()
}
