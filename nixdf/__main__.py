from nixdf.cli import main

main()
