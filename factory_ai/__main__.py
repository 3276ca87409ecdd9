from factory_ai.cli import main

main()
