// The fork server and its workers (Embedded Swift). Started only by runner-metrics, which
// execs it with descriptor 3 on the control socket; see ForkServerLoop.
import RunnerWorkerEmbedded

ForkServerLoop.serve { source, slot, sandboxes in Worker.run(source, sandboxes: sandboxes, slot: slot) }
