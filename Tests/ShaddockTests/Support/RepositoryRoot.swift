import Foundation

/// The repository's root: the nearest folder above this file that holds
/// Package.swift (test files sit at different depths under Tests/).
let repositoryRoot: URL = {
    var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while dir.path != "/" {
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
        dir = dir.deletingLastPathComponent()
    }
    fatalError("no Package.swift above \(#filePath)")
}()
