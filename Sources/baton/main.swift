import BatonApp

await BatonCommand.entry()
