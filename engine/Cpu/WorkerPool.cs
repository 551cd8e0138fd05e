using System.Runtime.ExceptionServices;

namespace Engine.Cpu;

/// <summary>
/// The engine-wide worker threads that the kernels (GEMM, layers) split their work across.
/// <see cref="For{TState}"/> runs a loop body for indices 0..count−1 on up to <see cref="Threads"/>
/// threads: the calling thread plus dedicated background workers, created on first use.
/// </summary>
/// <remarks>
/// One parallel loop runs at a time. A <c>For</c> issued from inside a running body (nested), or
/// while another thread's loop holds the workers, runs inline on its own thread, so callers never
/// deadlock and never oversubscribe the cores. Which index runs on which thread is not fixed; a
/// body that must give reproducible results should make each index's result independent of the
/// others (the engine's kernels split only their outputs).
/// </remarks>
public static class WorkerPool
{
    private static int threads = Math.Max(1, Environment.ProcessorCount);

    /// <summary>How many threads a parallel loop may use, the caller included (at least 1;
    /// smaller values are clamped to 1). Default: <see cref="Environment.ProcessorCount"/>.</summary>
    public static int Threads
    {
        get => Volatile.Read(ref threads);
        set => Volatile.Write(ref threads, Math.Max(1, value));
    }

    /// <summary>Runs <paramref name="body"/>(i) for i in 0..count−1 across up to
    /// <see cref="Threads"/> threads and returns when all are done. The first exception a body
    /// throws is rethrown here, after the other indices have finished or been skipped.</summary>
    public static void For(int count, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        For(count, body, static (i, b) => b(i));
    }

    /// <summary>As <see cref="For(int, Action{int})"/>, passing <paramref name="state"/> to each
    /// call so that a static lambda needs no closure (no allocation per loop).</summary>
    public static void For<TState>(int count, TState state, Action<int, TState> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 0) return;
        int t = Math.Min(Threads, count);
        if (t == 1 || insideLoop || !Monitor.TryEnter(Gate))
        {
            for (int i = 0; i < count; i++) body(i, state);
            return;
        }
        try
        {
            var job = JobOf<TState>.Instance ??= new Job<TState>();
            job.Set(count, state, body);
            try { RunJob(job, t - 1); }
            finally { job.Clear(); }
        }
        finally
        {
            Monitor.Exit(Gate);
        }
    }

    // ---- implementation -------------------------------------------------------------------

    private static readonly object Gate = new();
    private static readonly List<Worker> Workers = new();
    private static readonly ManualResetEventSlim AllDone = new(false);
    private static Job? current;
    private static int pendingWorkers;

    [ThreadStatic] private static bool insideLoop;

    /// <summary>Runs the job on the calling thread and <paramref name="helpers"/> workers.
    /// Called with <see cref="Gate"/> held.</summary>
    private static void RunJob(Job job, int helpers)
    {
        while (Workers.Count < helpers) Workers.Add(new Worker(Workers.Count));
        current = job;
        AllDone.Reset();
        Volatile.Write(ref pendingWorkers, helpers);
        for (int w = 0; w < helpers; w++) Workers[w].Wake();

        insideLoop = true;
        try { job.Work(); }
        finally { insideLoop = false; }

        // Wait for every woken worker to have left the job before it is reused or cleared.
        AllDone.Wait();
        current = null;
        job.ThrowIfFailed();
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim wake = new(0);

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"engine-worker-{index + 1}" };
            thread.Start();
        }

        public void Wake() => wake.Release();

        private void Loop()
        {
            insideLoop = true;
            while (true)
            {
                wake.Wait();
                Volatile.Read(ref current)?.Work();
                if (Interlocked.Decrement(ref pendingWorkers) == 0) AllDone.Set();
            }
        }
    }

    private abstract class Job
    {
        private int next;
        protected int count;
        private ExceptionDispatchInfo? failure;

        protected void Reset(int n)
        {
            count = n;
            next = 0;
            failure = null;
        }

        /// <summary>Claims indices one at a time until none are left.</summary>
        public void Work()
        {
            int i;
            while ((i = Interlocked.Increment(ref next) - 1) < count)
            {
                try { Run(i); }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref failure, ExceptionDispatchInfo.Capture(e), null);
                    Volatile.Write(ref next, count); // skip what is left
                }
            }
        }

        public void ThrowIfFailed() => failure?.Throw();

        protected void ForgetFailure() => failure = null;

        protected abstract void Run(int i);
    }

    private sealed class Job<TState> : Job
    {
        private TState state = default!;
        private Action<int, TState>? body;

        public void Set(int n, TState s, Action<int, TState> b)
        {
            Reset(n);
            state = s;
            body = b;
        }

        public void Clear()
        {
            ForgetFailure();
            state = default!;
            body = null;
        }

        protected override void Run(int i) => body!(i, state);
    }

    private static class JobOf<TState>
    {
        public static Job<TState>? Instance;
    }
}
