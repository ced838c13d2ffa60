from netdetect.cli.main import main

main()
