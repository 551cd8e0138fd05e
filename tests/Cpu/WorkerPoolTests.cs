using Engine.Cpu;
using NUnit.Framework;

namespace Engine.Tests.Cpu;

[TestFixture]
[NonParallelizable] // changes the global thread count
public class WorkerPoolTests
{
    private int saved;

    [SetUp]
    public void Save() => saved = WorkerPool.Threads;

    [TearDown]
    public void Restore() => WorkerPool.Threads = saved;

    [Test]
    public void ThreadsIsClampedToOne()
    {
        WorkerPool.Threads = 0;
        Assert.That(WorkerPool.Threads, Is.EqualTo(1));
        WorkerPool.Threads = -5;
        Assert.That(WorkerPool.Threads, Is.EqualTo(1));
        WorkerPool.Threads = 3;
        Assert.That(WorkerPool.Threads, Is.EqualTo(3));
    }

    [Test]
    public void RunsEveryIndexExactlyOnce([Values(1, 2, 4)] int threads, [Values(0, 1, 2, 7, 1000)] int count)
    {
        WorkerPool.Threads = threads;
        for (int round = 0; round < 20; round++)
        {
            var hits = new int[count];
            WorkerPool.For(count, i => Interlocked.Increment(ref hits[i]));
            Assert.That(hits, Is.All.EqualTo(1));
        }
    }

    [Test]
    public void StateOverloadPassesTheState()
    {
        WorkerPool.Threads = 2;
        var sums = new long[64];
        WorkerPool.For(sums.Length, (Data: sums, Scale: 3), static (i, s) => s.Data[i] = i * s.Scale);
        Assert.That(sums, Is.EqualTo(Enumerable.Range(0, 64).Select(i => (long)i * 3).ToArray()));
    }

    [Test]
    public void UsesMoreThanOneThreadWhenAllowed()
    {
        WorkerPool.Threads = 2;
        var ids = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        // Each body waits for the other thread, so finishing at all needs two running at once.
        using var barrier = new Barrier(2);
        WorkerPool.For(2, _ =>
        {
            ids[Environment.CurrentManagedThreadId] = true;
            Assert.That(barrier.SignalAndWait(TimeSpan.FromSeconds(30)), Is.True);
        });
        Assert.That(ids.Count, Is.EqualTo(2));
    }

    [Test]
    public void NestedLoopsRunInline()
    {
        WorkerPool.Threads = 2;
        var hits = new int[8 * 8];
        WorkerPool.For(8, i => WorkerPool.For(8, j => Interlocked.Increment(ref hits[i * 8 + j])));
        Assert.That(hits, Is.All.EqualTo(1));
    }

    [Test]
    public void ConcurrentCallersBothComplete()
    {
        WorkerPool.Threads = 2;
        var a = new int[5000];
        var b = new int[5000];
        var t = Task.Run(() => { for (int r = 0; r < 50; r++) WorkerPool.For(a.Length, i => Interlocked.Increment(ref a[i])); });
        for (int r = 0; r < 50; r++) WorkerPool.For(b.Length, i => Interlocked.Increment(ref b[i]));
        Assert.That(t.Wait(TimeSpan.FromSeconds(60)), Is.True);
        Assert.That(a, Is.All.EqualTo(50));
        Assert.That(b, Is.All.EqualTo(50));
    }

    [Test]
    public void ExceptionsReachTheCaller([Values(1, 2)] int threads)
    {
        WorkerPool.Threads = threads;
        var e = Assert.Throws<InvalidOperationException>(() =>
            WorkerPool.For(100, i => { if (i == 37) throw new InvalidOperationException("boom 37"); }));
        Assert.That(e!.Message, Is.EqualTo("boom 37"));
        // The pool still works afterwards.
        int n = 0;
        WorkerPool.For(100, _ => Interlocked.Increment(ref n));
        Assert.That(n, Is.EqualTo(100));
    }
}
