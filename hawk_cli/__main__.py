from hawk_cli.main import main

main()
