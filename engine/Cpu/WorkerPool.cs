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

    /// <summary>Elementwise work at least this long is split across the threads by <see cref="ForRange{TState}"/>.</summary>
    public const int RangeThreshold = 1 << 16;

    /// <summary>
    /// Runs body(start, count, state) over [0, <paramref name="length"/>) in one contiguous piece
    /// per thread (multiples of 64 elements), or in one piece on the calling thread when shorter
    /// than <see cref="RangeThreshold"/>: for elementwise layers, whose results do not depend on the cut.
    /// </summary>
    public static void ForRange<TState>(int length, TState state, Action<int, int, TState> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (length <= 0) return;
        int parts = length >= RangeThreshold ? Math.Min(Threads, (length + 63) / 64) : 1;
        if (parts == 1)
        {
            body(0, length, state);
            return;
        }
        int piece = ((length + parts - 1) / parts + 63) & ~63;
        For((length + piece - 1) / piece, (state, body, length, piece), static (i, st) =>
        {
            int start = i * st.piece;
            st.body(start, Math.Min(st.piece, st.length - start), st.state);
        });
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
    //
    // The caller publishes the job in `current`, wakes the helpers and claims indices itself. A
    // helper counts itself in `active` before it looks at `current`, so once the caller has taken the
    // job down again (Interlocked, a full fence) and seen `active` reach 0, no helper can still be
    // inside it. A helper that wakes late finds nothing left and goes back to sleep: the caller
    // never waits for a thread that was not scheduled in time, only for indices already running.

    private static readonly object Gate = new();
    private static readonly object IdleLock = new();
    private static readonly List<Worker> Workers = new();
    private static Job? current;
    private static int active;
    private static int callerWaiting;

    [ThreadStatic] private static bool insideLoop;

    /// <summary>Runs the job on the calling thread and up to <paramref name="helpers"/> workers.
    /// Called with <see cref="Gate"/> held.</summary>
    private static void RunJob(Job job, int helpers)
    {
        while (Workers.Count < helpers) Workers.Add(new Worker(Workers.Count));
        Volatile.Write(ref current, job);
        for (int w = 0; w < helpers; w++) Workers[w].Wake();

        insideLoop = true;
        try { job.Work(); }
        finally { insideLoop = false; }

        // Every index is claimed; take the job down and wait for the ones still running elsewhere.
        Interlocked.Exchange(ref current, null);
        var spin = new SpinWait();
        while (Volatile.Read(ref active) != 0)
        {
            if (!spin.NextSpinWillYield)
            {
                spin.SpinOnce();
                continue;
            }
            lock (IdleLock)
            {
                Interlocked.Exchange(ref callerWaiting, 1);
                while (Volatile.Read(ref active) != 0) Monitor.Wait(IdleLock, 1);
                Interlocked.Exchange(ref callerWaiting, 0);
            }
        }
        job.ThrowIfFailed();
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim wake = new(0);
        private int signaled; // 1 while a wake-up is pending, so a sleeping worker's permits never pile up

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"engine-worker-{index + 1}" };
            thread.Start();
        }

        public void Wake()
        {
            if (Interlocked.Exchange(ref signaled, 1) == 0) wake.Release();
        }

        private void Loop()
        {
            insideLoop = true;
            while (true)
            {
                wake.Wait();
                Interlocked.Exchange(ref signaled, 0);
                Interlocked.Increment(ref active);
                Volatile.Read(ref current)?.Work();
                if (Interlocked.Decrement(ref active) == 0 && Volatile.Read(ref callerWaiting) != 0)
                    lock (IdleLock) Monitor.PulseAll(IdleLock);
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
