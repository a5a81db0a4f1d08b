import BatonStore
import Foundation
import Testing

@Suite("time-ordered run ids")
struct TimeOrderedIDTests {
    @Test func idsAreVersionSevenAndSortByTheirTime() {
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        let ids = (0..<200).map { TimeOrderedID.make(now: start.addingTimeInterval(Double($0) * 0.002)) }
        for id in ids {
            let text = id.uuidString.lowercased()
            #expect(Array(text)[14] == "7", "\(text)")
            #expect("89ab".contains(Array(text)[19]), "\(text)")
        }
        #expect(ids.map { $0.uuidString.lowercased() } == ids.map { $0.uuidString.lowercased() }.sorted())
        #expect(Set(ids).count == ids.count)
        // The first 48 bits are the Unix milliseconds.
        #expect(ids[0].uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12) == String(1_790_000_000_000, radix: 16).leftPadded(to: 12))
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String { String(repeating: "0", count: max(0, length - count)) + self }
}
