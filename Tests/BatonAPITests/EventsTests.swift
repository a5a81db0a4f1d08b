import BatonStore
import BatonTestSupport
import Foundation
import Testing

extension APITests {
@Suite("events: long-poll and SSE")
struct EventsTests {
    @Test func longPollAnswersWhenANewEventArrives() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let id = try await api.createRun("slow")
            let first = try await api.request("GET", "/api/v1/runs/\(id.lower)/events", role: .viewer)
            let after = try #require(first.object["nextAfter"] as? Int)
            #expect((first.object["events"] as? [[String: Any]])?.first?["kind"] as? String == "run_queued")

            // Nothing new: waits the whole `wait`, then answers empty with the same cursor.
            let started = ContinuousClock.now
            let empty = try await api.request("GET", "/api/v1/runs/\(id.lower)/events?after=\(after)&wait=0.3", role: .viewer)
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            #expect((empty.object["events"] as? [Any])?.isEmpty == true && empty.object["nextAfter"] as? Int == after)

            // A long poll with a 60 s wait answers with the new event instead of waiting out its wait. (The event may
            // land before or after the poll starts waiting: both must answer with it. The live wake-up path is
            // what the SSE test below follows.)
            let poll = Task { () -> (Reply, Duration) in
                let sent = ContinuousClock.now
                let reply = try await api.request("GET", "/api/v1/runs/\(id.lower)/events?after=\(after)&wait=60", role: .viewer, timeout: .seconds(90))
                return (reply, ContinuousClock.now - sent)
            }
            // An event written by another process (straight into the database), not by this server.
            try await api.engine.pool.withConnection { try $0.query("SELECT baton.add_event(\(id), NULL, NULL, 'info', 'test_ping', 'ping')") }
            let (reply, waited) = try await poll.value
            let events = reply.object["events"] as? [[String: Any]] ?? []
            #expect(events.map { $0["kind"] as? String } == ["test_ping"])
            #expect(reply.object["nextAfter"] as? Int == events.last?["id"] as? Int)
            // Answered because of the event, not because its 60 s ran out.
            #expect(waited < .seconds(55), "answered after \(waited)")
        }
    }

    @Test func badCursorsAndWaitsAre400() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let id = try await api.createRun("slow")
            for query in ["after=-1", "after=x", "wait=61", "wait=nan", "limit=0"] {
                let reply = try await api.request("GET", "/api/v1/runs/\(id.lower)/events?\(query)", role: .viewer)
                #expect(reply.status == 400, "\(query): \(reply.status)")
            }
        }
    }

    @Test func sseResumesAfterADisconnectWithNoEventLostOrRepeated() async throws {
        try await APITestServer.with { api in
            let id = try await api.createRun("slow", inputs: #"{"sleepMs": 300}"#)
            let token = api.tokens[.viewer]!
            let path = "/api/v1/runs/\(id.lower)/events"
            let first = try SSEClient(port: api.port, path: path, token: token)
            #expect(try await eventually(timeout: .seconds(60)) { first.received.count >= 3 })
            first.disconnect()
            let seenFirst = first.received
            let last = try #require(seenFirst.last?.id)
            // More events happen while nobody listens.
            #expect(try await eventually { try await api.engine.runs.events(runID: id).count > seenFirst.count })
            let second = try SSEClient(port: api.port, path: path, token: token, lastEventID: last)
            #expect(try await eventually(timeout: .seconds(60)) { second.received.last?.event == "end" })
            #expect(second.received.last?.data.contains("succeeded") == true)
            let ids = (seenFirst + second.received).compactMap(\.id)
            let stored = try await api.engine.runs.events(runID: id).map(\.id)
            #expect(ids == stored, "streamed \(ids) stored \(stored)")
            #expect(Set(ids).count == ids.count)
            #expect(second.received.compactMap(\.id).allSatisfy { $0 > last })
            second.disconnect()
        }
    }
}
}
