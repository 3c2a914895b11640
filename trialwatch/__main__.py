from trialwatch.cli import main

main()
