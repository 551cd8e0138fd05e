using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Engine.Proto;

namespace Engine.Core;

/// <summary>
/// A data layer whose batches are prepared ahead on a background thread, as Caffe's
/// BasePrefetchingDataLayer does. A subclass is a <i>reader</i>: it sets itself up
/// (<see cref="DataLayerSetUp"/>), shapes its tops (<see cref="Layer.Reshape"/>), fills one batch
/// (<see cref="LoadBatch"/>), and writes and reads its position (<see cref="WriteReaderState"/>,
/// <see cref="ReadReaderState"/>). This class runs it.
/// <para>
/// With <c>data_param.prefetch: N</c> (N ≥ 1; default 4, as in Caffe; other data layers read the
/// same field) one thread per layer fills a ring of N batch buffers while the net computes, and
/// <see cref="Forward"/> copies the oldest ready batch into the tops. With <c>prefetch: 0</c>
/// <see cref="Forward"/> reads the batch itself, on the calling thread. Either way the batches are
/// the same, bit for bit: one thread reads them in order with the layer's own generator (crops,
/// mirrors, shuffles), so nothing depends on timing or on the worker-thread count.
/// </para>
/// <para>
/// The reader runs ahead of the net, so before filling a buffer the thread stores the reader's
/// state beside it; <see cref="SaveState"/> returns the state that produced the next batch the net
/// will consume, and <see cref="LoadState"/> drops the ring and restarts from the loaded state. A
/// reader error (a corrupt record) is kept with its batch and thrown by the <see cref="Forward"/>
/// that would have consumed it, on the training thread, with its message unchanged. The thread
/// starts at the first forward, stops when the layer is disposed (the net's Dispose), set up again,
/// or collected, and never keeps the process alive. <see cref="DataWait"/> is the time forward
/// spent waiting for a batch (with prefetch 0: reading it).
/// </para>
/// </summary>
public abstract class PrefetchingDataLayer(LayerParameter param) : Layer(param), IDisposable
{
    /// <summary>The most batches a ring may hold.</summary>
    public const int MaxPrefetch = 256;

    private Ring? _ring;
    private int _prefetch = 4;
    private (long epoch, int cursor) _position;
    private long _waitTicks, _served;
    private bool _disposed;

    /// <summary>Batches prepared ahead (data_param.prefetch); 0: read in <see cref="Forward"/>.</summary>
    public int Prefetch => _prefetch;

    /// <summary>Full passes over the data begun before the one the last consumed batch came from (the net's view).</summary>
    public long Epoch => _position.epoch;

    /// <summary>Position, in the current pass, of the record after the last consumed batch (the net's view).</summary>
    public int Cursor => _position.cursor;

    /// <summary>Time <see cref="Forward"/> has spent waiting for batches since set-up (prefetch 0: reading them).</summary>
    public TimeSpan DataWait => TimeSpan.FromSeconds(Volatile.Read(ref _waitTicks) / (double)Stopwatch.Frequency);

    /// <summary>Batches handed to the net since set-up.</summary>
    public long BatchesServed => _served;

    /// <summary>The prefetch thread, while one runs (for tests).</summary>
    internal Thread? PrefetchThread => _ring?.Thread;

    /// <summary>The ring's batches.</summary>
    public override long WorkspaceBytes
    {
        get
        {
            var ring = _ring;
            return ring == null ? 0 : (long)ring.Slots.Length * (ring.DataLength + ring.LabelLength) * sizeof(float);
        }
    }

    /// <summary>Batches read ahead and not yet consumed (for tests).</summary>
    internal int ReadyBatches
    {
        get
        {
            var ring = _ring;
            if (ring == null) return 0;
            lock (ring.Gate) return ring.Ready;
        }
    }

    public sealed override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        DropRing(rewind: false); // set-up starts the reader over; batches read ahead are void
        uint prefetch = Param.DataParam?.Prefetch ?? 4;
        if (prefetch > MaxPrefetch)
            throw Error($"data_param.prefetch {prefetch} is more than {MaxPrefetch} batches");
        _prefetch = (int)prefetch;
        DataLayerSetUp(bottom, top);
        _position = ReaderPosition;
        _waitTicks = 0;
        _served = 0;
    }

    /// <summary>One-time set-up of the reader (Caffe's DataLayerSetUp): parameters, files, shapes.</summary>
    protected abstract void DataLayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top);

    /// <summary>
    /// Read the next batch into <paramref name="data"/> (top 0's size) and <paramref name="labels"/>
    /// (top 1's size; empty without a label top), advancing the reader. Runs on the prefetch thread
    /// (or in <see cref="Forward"/> with prefetch 0), never at the same time as the state methods.
    /// Must not allocate per call when it can help it, and must not use the worker pool.
    /// </summary>
    protected abstract void LoadBatch(Span<float> data, Span<float> labels);

    /// <summary>Size in bytes of the reader state; fixed once set up.</summary>
    protected abstract int ReaderStateSize { get; }

    /// <summary>Write the reader's position (and generator) into <paramref name="state"/>, without allocating.</summary>
    protected abstract void WriteReaderState(Span<byte> state);

    /// <summary>Check and restore a state <see cref="WriteReaderState"/> wrote; throw <see cref="Layer.Error"/> and change nothing if it does not fit.</summary>
    protected abstract void ReadReaderState(ReadOnlySpan<byte> state);

    /// <summary>The reader's (epoch, cursor) now: passes begun before the current one, and the next record's place in it.</summary>
    protected abstract (long epoch, int cursor) ReaderPosition { get; }

    public sealed override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var data = top[0].Data;
        var labels = top.Count > 1 ? top[1].Data : Span<float>.Empty;
        if (_prefetch == 0)
        {
            long t0 = Stopwatch.GetTimestamp();
            LoadBatch(data, labels);
            Volatile.Write(ref _waitTicks, _waitTicks + Stopwatch.GetTimestamp() - t0);
            _position = ReaderPosition;
            _served++;
            return;
        }

        var ring = _ring;
        if (ring == null || ring.DataLength != data.Length || ring.LabelLength != labels.Length)
            ring = StartRing(data.Length, labels.Length);
        long start = Stopwatch.GetTimestamp();
        Slot slot;
        lock (ring.Gate)
        {
            while (ring.Ready == 0)
            {
                if (ring.Stopped) throw new InvalidOperationException($"layer \"{Name}\": the prefetch thread stopped");
                Monitor.Wait(ring.Gate);
            }
            slot = ring.Slots[ring.Head];
        }
        Volatile.Write(ref _waitTicks, _waitTicks + Stopwatch.GetTimestamp() - start);
        // A reader error: thrown here, where its batch was due; the slot stays, so every later
        // forward fails the same way.
        if (slot.Error != null) ExceptionDispatchInfo.Throw(slot.Error);
        slot.Data.CopyTo(data);
        slot.Labels.CopyTo(labels);
        _position = slot.After;
        _served++;
        lock (ring.Gate)
        {
            ring.Head = (ring.Head + 1) % ring.Slots.Length;
            ring.Ready--;
            Monitor.PulseAll(ring.Gate);
        }
    }

    /// <summary>The reader state that produces the next batch the net will consume.</summary>
    public sealed override byte[] SaveState()
    {
        var ring = _ring;
        if (ring == null) return FreshState();
        lock (ring.Gate)
        {
            ring.Paused = true;
            while (ring.Busy) Monitor.Wait(ring.Gate);
        }
        try
        {
            // Parked: the ready batches are fixed, and with none the reader is at the net's position.
            return ring.Ready > 0 ? ring.Slots[ring.Head].State.ToArray() : FreshState();
        }
        finally
        {
            lock (ring.Gate)
            {
                ring.Paused = false;
                Monitor.PulseAll(ring.Gate);
            }
        }
    }

    private byte[] FreshState()
    {
        var s = new byte[ReaderStateSize];
        WriteReaderState(s);
        return s;
    }

    /// <summary>Continue from a state <see cref="SaveState"/> returned: batches read ahead are dropped.</summary>
    public sealed override void LoadState(byte[] state)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        DropRing(rewind: true); // a refused state leaves the layer where the net was
        ReadReaderState(state);
        _position = ReaderPosition;
    }

    // A new ring for tops of these sizes; an old one (other sizes) is dropped, its reader rewound.
    private Ring StartRing(int dataLength, int labelLength)
    {
        DropRing(rewind: true);
        var ring = new Ring(_prefetch, dataLength, labelLength, ReaderStateSize);
        var owner = new WeakReference<PrefetchingDataLayer>(this);
        // The thread holds the ring and a weak reference to the layer, so a layer nobody disposes
        // is still collected; its finalizer then stops the thread.
        ring.Thread = new Thread(static s =>
        {
            var (r, o) = ((Ring, WeakReference<PrefetchingDataLayer>))s!;
            Produce(r, o);
        })
        {
            IsBackground = true,
            Name = $"prefetch {Name}",
        };
        _ring = ring;
        ring.Thread.Start((ring, owner));
        return ring;
    }

    /// <summary>
    /// Stop the thread and forget the ring. With <paramref name="rewind"/>, put the reader back at
    /// the net's position (the state stored with the oldest unconsumed batch).
    /// </summary>
    private void DropRing(bool rewind)
    {
        var ring = _ring;
        if (ring == null) return;
        _ring = null;
        lock (ring.Gate)
        {
            ring.Stopped = true;
            Monitor.PulseAll(ring.Gate);
            while (ring.Busy) Monitor.Wait(ring.Gate);
        }
        // The thread no longer touches the reader.
        if (rewind && ring.Ready > 0) ReadReaderState(ring.Slots[ring.Head].State);
    }

    private static void Produce(Ring ring, WeakReference<PrefetchingDataLayer> owner)
    {
        int n = ring.Slots.Length;
        while (true)
        {
            Slot slot;
            lock (ring.Gate)
            {
                while (!ring.Stopped && (ring.Paused || ring.Failed || ring.Ready == n)) Monitor.Wait(ring.Gate);
                if (ring.Stopped) return;
                slot = ring.Slots[(ring.Head + ring.Ready) % n];
                ring.Busy = true;
            }
            bool alive = Fill(owner, slot);
            lock (ring.Gate)
            {
                ring.Busy = false;
                // Counted even when stopping meanwhile: a rewind needs the state stored with it.
                if (alive)
                {
                    ring.Ready++;
                    ring.Failed |= slot.Error != null;
                }
                else ring.Stopped = true;
                Monitor.PulseAll(ring.Gate);
            }
        }
    }

    // Separate and not inlined, so the thread's own frame never holds the layer strongly.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool Fill(WeakReference<PrefetchingDataLayer> owner, Slot slot)
    {
        if (!owner.TryGetTarget(out var layer)) return false;
        slot.Error = null;
        try
        {
            layer.WriteReaderState(slot.State);
            layer.LoadBatch(slot.Data, slot.Labels);
            slot.After = layer.ReaderPosition;
        }
        catch (Exception e)
        {
            slot.Error = e;
        }
        return true;
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Stop the prefetch thread; a subclass then closes its files.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (_disposed) return;
        _disposed = true;
        var thread = _ring?.Thread;
        DropRing(rewind: false);
        if (disposing) thread?.Join(TimeSpan.FromSeconds(5));
    }

    ~PrefetchingDataLayer()
    {
        var ring = _ring;
        if (ring == null) return;
        lock (ring.Gate)
        {
            ring.Stopped = true;
            Monitor.PulseAll(ring.Gate);
        }
    }

    private sealed class Slot(int dataLength, int labelLength, int stateSize)
    {
        public readonly float[] Data = new float[dataLength];
        public readonly float[] Labels = new float[labelLength];
        public readonly byte[] State = new byte[stateSize];  // the reader's state before this batch
        public (long epoch, int cursor) After;               // the reader's position after it
        public Exception? Error;
    }

    // Shared by the layer and its thread; holds nothing that refers back to the layer.
    private sealed class Ring
    {
        public Ring(int count, int dataLength, int labelLength, int stateSize)
        {
            Slots = new Slot[count];
            for (int i = 0; i < count; i++) Slots[i] = new Slot(dataLength, labelLength, stateSize);
            DataLength = dataLength;
            LabelLength = labelLength;
        }

        public readonly object Gate = new();
        public readonly Slot[] Slots;
        public readonly int DataLength, LabelLength;
        public Thread? Thread;
        public int Head, Ready;      // oldest ready slot; ready slots from Head on
        public bool Busy;            // the thread is filling the slot after the ready ones
        public bool Paused, Failed, Stopped;
    }
}
