fn main() -> std::process::ExitCode {
    distcc::main()
}
