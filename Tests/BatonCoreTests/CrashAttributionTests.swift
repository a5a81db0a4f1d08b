import BatonCore
import Testing

/// The rescuer's judgement of a lost worker, without a database.
@Suite("crash attribution")
struct CrashAttributionTests {
    let policy = CrashPolicy(maxCharged: 3, maxLosses: 10, backoffBase: .seconds(1), backoffCap: .seconds(60))

    /// Feeds `losses` one after another, carrying the counters as the rescuer stores them on the next job.
    func replay(_ losses: [WorkerLoss]) -> [CrashAttribution.Verdict] {
        var charged = 0, singled = false, count = 0
        return losses.map { loss in
            var loss = loss
            loss.losses = count
            loss.charged = charged
            loss.singledOut = singled
            let verdict = CrashAttribution.judge(loss, policy: policy, priority: 4)
            (charged, singled, count) = (verdict.chargedTotal, verdict.singledOut, verdict.lossesTotal)
            return verdict
        }
    }

    @Test func aStepAloneOnEveryWorkerItKillsIsQuarantinedAtItsThirdCrash() {
        let verdicts = replay(Array(repeating: WorkerLoss(), count: 3))
        #expect(verdicts.map(\.charged) == [true, true, true])
        #expect(verdicts[0].decision == .retry(delay: .zero, priority: 4))
        #expect(verdicts[1].decision == .retry(delay: .seconds(1), priority: 4))
        #expect(verdicts[2].decision == .deadLetter(.crashLoop))
    }

    @Test func aStepBesideOthersIsSingledOutAsTheRepeatOffenderAndQuarantinedAtItsThirdCrash() {
        // Each time its worker also held two fresh steps (its victims), none of which had lost a worker before.
        let verdicts = replay(Array(repeating: WorkerLoss(coLost: 2, coLostRepeatOffenders: 0), count: 3))
        #expect(verdicts.map(\.singledOut) == [false, true, true])
        #expect(verdicts.map(\.chargedTotal) == [1, 2, 3])
        #expect(verdicts[2].decision == .deadLetter(.crashLoop))
    }

    @Test func stepsOnWorkersThatAreBeingKilledAreExcusedUntilTheHardBound() {
        let verdicts = replay(Array(repeating: WorkerLoss(otherWorkersLost: 2), count: 10))
        #expect(verdicts.allSatisfy { !$0.charged })
        #expect(verdicts.prefix(9).allSatisfy { if case .retry = $0.decision { true } else { false } })
        #expect(verdicts[9].decision == .deadLetter(.crashLoop))
        #expect(verdicts[2].explanation.contains("not charged"))
    }

    @Test func aVictimThatOnlyEverSharedItsLossesIsNotQuarantined() {
        // Twice beside another repeat offender, once beside fresh steps after a loss: charged, never singled out.
        let verdicts = replay([WorkerLoss(coLost: 1), WorkerLoss(coLost: 1, coLostRepeatOffenders: 1), WorkerLoss(coLost: 1, coLostRepeatOffenders: 1)])
        #expect(verdicts.map(\.chargedTotal) == [1, 2, 3])
        #expect(!verdicts[2].singledOut)
        #expect(verdicts[2].decision == .retry(delay: .seconds(2), priority: 4))
    }

    @Test func crashRetriesBackOffExponentiallyUpToTheCap() {
        #expect((1...9).map { CrashAttribution.backoff(afterLosses: $0, policy: policy) }
            == [.zero, .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(32), .seconds(60), .seconds(60)])
    }
}
