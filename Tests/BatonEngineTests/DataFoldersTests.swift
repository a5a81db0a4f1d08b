import BatonApp
import Foundation
import Testing

/// Issue 9 §5: one precedence rule for every folder (flag > variable > BATON_DATA_DIR default > ./var default).
@Suite("data folders")
struct DataFoldersTests {
    @Test func withBatonDataDirSetNoFolderDependsOnTheWorkingDirectory() {
        let environment = ["BATON_DATA_DIR": "/srv/baton"]
        let fromHere = DataFolders.resolve(environment: environment, workingDirectory: "/home/a")
        let fromThere = DataFolders.resolve(environment: environment, workingDirectory: "/tmp/b")
        #expect(fromHere == fromThere)
        #expect(fromHere.artifacts.path == "/srv/baton/artifacts" && fromHere.postgres.path == "/srv/baton/postgres")
        #expect(fromHere.repositories.path == "/srv/baton/repos" && fromHere.worktrees.path == "/srv/baton/worktrees")
        // A relative folder variable is taken from the data folder, not from the working directory.
        let relative = DataFolders.resolve(environment: ["BATON_DATA_DIR": "/srv/baton", "BATON_ARTIFACTS": "files"], workingDirectory: "/home/a")
        #expect(relative.artifacts.path == "/srv/baton/files")
    }

    @Test func flagBeatsVariableBeatsDataDirBeatsVar() {
        let environment = ["BATON_DATA_DIR": "/srv/baton", "BATON_ARTIFACTS": "/mnt/artifacts", "BATON_POSTGRES_DIR": "/mnt/pg"]
        #expect(DataFolders.resolve(artifactsFlag: "out", environment: environment, workingDirectory: "/home/a").artifacts.path == "/home/a/out")
        #expect(DataFolders.resolve(environment: environment, workingDirectory: "/home/a").artifacts.path == "/mnt/artifacts")
        #expect(DataFolders.resolve(environment: environment, workingDirectory: "/home/a").postgres.path == "/mnt/pg")
        let bare = DataFolders.resolve(environment: [:], workingDirectory: "/home/a")
        #expect(bare.data.path == "/home/a/var" && bare.artifacts.path == "/home/a/var/artifacts" && bare.postgres.path == "/home/a/var/postgres")
        // Empty variables count as unset.
        #expect(DataFolders.resolve(environment: ["BATON_DATA_DIR": "", "BATON_ARTIFACTS": ""], workingDirectory: "/home/a") == bare)
    }
}
