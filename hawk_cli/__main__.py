from hawk_cli.main import main

if __name__ == "__main__":  # a guard, so that spawned worker processes do not rerun the CLI
    main()
