using System.Buffers.Binary;
using Engine.Core;
using Engine.IO;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's Data layer. Backend IDX (our extension) reads MNIST-format files directly: `source`
/// is the images file (N×H×W uint8), `label_source` the labels file (N uint8), gzipped or not.
/// The whole dataset is read into memory once at set-up. Top 0 is the data (batch×1×H×W, or
/// crop×crop with transform_param.crop_size), top 1 (optional) the labels (batch).
/// <para>
/// Each forward fills the next batch from a cursor and wraps around at the end of the dataset,
/// as Caffe does. With `shuffle: true` (TRAIN only) every epoch visits the records in a fresh
/// random order drawn from the layer's generator. `rand_skip` skips a random number of records
/// in [0, rand_skip) at the start. <see cref="SaveState"/> carries the cursor, the epoch's order
/// and the generator, so a restored layer continues with exactly the same batches.
/// </para>
/// <para>
/// Backend LMDB reads Caffe's datasets: `source` is the database (a directory holding data.mdb),
/// whose values are Datum records, read in key order with a cursor (one record at a time, never
/// the whole database) and wrapped around at the end, as Caffe does. Raw uint8 `data` and
/// `float_data` are read, and encoded images (below). The shape comes from the first record; top 1
/// gets each record's label. The snapshot state is the record index: a restored layer reopens
/// the database and skips to it. shuffle is for IDX only (Caffe reads an LMDB in key order).
/// </para>
/// <para>
/// Encoded records (<c>encoded: true</c>, e.g. from `engine convert --list --encoded`) are decoded
/// by <see cref="EncodedDatum"/> (transform_param force_color / force_gray); the first record's
/// decoded shape is the layer's. Backend CIFAR (our extension) reads CIFAR-10's binary batches
/// into memory (<see cref="CifarBatchFile"/>): 3×32×32 records, read, shuffled, skipped and
/// saved exactly as IDX records are.
/// </para>
/// <para>
/// Batches are read ahead on a thread (data_param.prefetch, <see cref="PrefetchingDataLayer"/>);
/// a backend only fills one batch in <see cref="LoadBatch"/> and writes and reads its position.
/// </para>
/// LEVELDB arrives with a later piece.
/// </summary>
[LayerType("Data")]
public sealed class DataLayer(LayerParameter param) : PrefetchingDataLayer(param)
{
    private const uint StateMagic = 0x31584449; // "IDX1", little-endian
    private const int StateVersion = 1;
    private const uint LmdbStateMagic = 0x31424D4C; // "LMB1", little-endian

    // Backend LMDB: the open database, the record shape and whether the first record was read.
    private LmdbReader? _db;
    private int _channels = 1;

    private DataTransformer _transformer = null!;
    private EncodedDatum? _encoded;
    private byte[] _images = [];
    private byte[] _labels = [];
    private int _records, _height, _width, _outHeight, _outWidth, _batch;
    private bool _shuffle;

    // The visiting order of the current epoch (null: file order), the position in it, and how
    // many epochs have started before this one.
    private int[]? _order;
    private int _cursor;
    private long _epoch;

    public override int ExactBottoms => 0;
    public override int MinTops => 1;
    public override int MaxTops => 2;

    /// <summary>Records in the dataset.</summary>
    public int Records => _records;

    protected override (long epoch, int cursor) ReaderPosition => (_epoch, _cursor);

    protected override void DataLayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var dp = Param.DataParam ?? throw Error("data_param is missing; give source, label_source, backend: IDX and batch_size");
        if (dp.Backend == DataParameter.Types.DB.Lmdb)
        {
            SetUpLmdb(dp);
            return;
        }
        bool cifar = dp.Backend == DataParameter.Types.DB.Cifar;
        if (dp.Backend != DataParameter.Types.DB.Idx && !cifar)
            throw Error($"backend {dp.Backend.ToString().ToUpperInvariant()} arrives with a later piece; use backend: IDX with source and label_source, backend: LMDB or backend: CIFAR");
        if (!dp.HasSource || dp.Source.Length == 0)
            throw Error(cifar
                ? "data_param.source is missing; backend CIFAR needs a batch file (e.g. data_batch_1.bin) or a text file listing batch files"
                : "data_param.source is missing; backend IDX needs the images file (e.g. train-images-idx3-ubyte.gz)");
        if (cifar && dp.HasLabelSource)
            throw Error("data_param.label_source is for backend IDX; CIFAR-10 batches hold their labels");
        if (!cifar && top.Count == 2 && (!dp.HasLabelSource || dp.LabelSource.Length == 0))
            throw Error($"data_param.label_source is missing; top \"{top[1].Name}\" needs the labels file (e.g. train-labels-idx1-ubyte.gz)");
        if (dp.BatchSize == 0)
            throw Error("data_param.batch_size must be given and positive");
        if (dp.BatchSize > int.MaxValue)
            throw Error($"data_param.batch_size {dp.BatchSize} is too large");
        _batch = (int)dp.BatchSize;

        _transformer = new DataTransformer(EffectiveTransform(dp), Phase, Error);

        if (cifar)
        {
            (_images, _labels) = CifarBatchFile.Read(CifarBatchFile.Sources(dp.Source, Error), "source", Error);
            (_records, _channels, _height, _width) = (_labels.Length, CifarBatchFile.Channels, CifarBatchFile.Height, CifarBatchFile.Width);
        }
        else
        {
            var (dims, images) = IdxFile.Read(dp.Source, IdxFile.ImagesMagic, "source", Error);
            _images = images;
            _records = dims[0];
            _height = dims[1];
            _width = dims[2];
        }
        if (!cifar && dp.HasLabelSource && dp.LabelSource.Length > 0)
        {
            var (ldims, labels) = IdxFile.Read(dp.LabelSource, IdxFile.LabelsMagic, "label_source", Error);
            if (ldims[0] != _records)
                throw Error($"source \"{dp.Source}\" has {_records} images but label_source \"{dp.LabelSource}\" has {ldims[0]} labels");
            _labels = labels;
        }
        (_outHeight, _outWidth) = _transformer.OutputSize(_channels, _height, _width);

        _shuffle = dp.Shuffle && Phase == Phase.Train;
        if (dp.Shuffle && !_shuffle)
            Log.Info($"Data layer \"{Name}\": shuffle applies to the TRAIN phase only; the {Phase.ToString().ToUpperInvariant()} net reads the file in order", "data_layer.cs");
        _cursor = 0;
        _epoch = 0;
        if (_shuffle)
        {
            _order = new int[_records];
            for (int i = 0; i < _records; i++) _order[i] = i;
            Rng.Shuffle<int>(_order);
        }

        string skipped = "";
        if (dp.RandSkip > 0)
        {
            // Caffe skips a random count in [0, rand_skip); past the end it would cycle the data.
            int skip = Rng.NextInt((int)Math.Min(dp.RandSkip, int.MaxValue)) % _records;
            _cursor = skip;
            skipped = $", skipping the first {skip}";
        }

        string crop = _outHeight != _height || _outWidth != _width ? $", cropped to {_outHeight}×{_outWidth}" : "";
        string order = _shuffle ? ", shuffled every epoch" : "";
        Log.Info($"Data layer \"{Name}\": {_records} images {(cifar ? "3×" : "")}{_height}×{_width} from {(cifar ? "CIFAR-10 batches " : "")}{dp.Source}" +
                 (!cifar && _labels.Length > 0 ? $" (labels {dp.LabelSource})" : "") +
                 $", batch {_batch}{crop}{order}{skipped}", "data_layer.cs");
    }

    private void SetUpLmdb(DataParameter dp)
    {
        if (!dp.HasSource || dp.Source.Length == 0)
            throw Error("data_param.source is missing; backend LMDB needs the database folder (e.g. examples/mnist/mnist_train_lmdb)");
        if (dp.BatchSize == 0)
            throw Error("data_param.batch_size must be given and positive");
        if (dp.BatchSize > int.MaxValue)
            throw Error($"data_param.batch_size {dp.BatchSize} is too large");
        if (dp.Shuffle)
            throw Error("shuffle needs backend IDX or CIFAR; an LMDB is read in key order, as Caffe does (shuffle it when converting)");
        _batch = (int)dp.BatchSize;
        _transformer = new DataTransformer(EffectiveTransform(dp), Phase, Error);
        _encoded = new EncodedDatum(Param.TransformParam, dp, Error);
        _db?.Dispose();
        try { _db = new LmdbReader(dp.Source); }
        catch (EngineException e) { throw Error($"source {e.Message}"); }
        if (_db.Count == 0) throw Error($"source \"{dp.Source}\": the LMDB holds no records");
        if (_db.Count > int.MaxValue) throw Error($"source \"{dp.Source}\": {_db.Count} records are more than this layer reads");
        _records = (int)_db.Count;
        var (key, datum) = NextDatum();
        if (datum.Encoded)
        {
            var (c, h, w, _) = _encoded.Decode(datum, $"source \"{dp.Source}\": record \"{Key(key)}\"");
            (_channels, _height, _width) = (c, h, w);
        }
        else
            (_channels, _height, _width) = (datum.Channels, datum.Height, datum.Width);
        if (_channels <= 0 || _height <= 0 || _width <= 0)
            throw Error($"source \"{dp.Source}\": record \"{Key(key)}\" has shape {_channels}×{_height}×{_width}");
        _db.Rewind();
        (_outHeight, _outWidth) = _transformer.OutputSize(_channels, _height, _width);
        _cursor = 0;
        _epoch = 0;
        string skipped = "";
        if (dp.RandSkip > 0)
        {
            int skip = Rng.NextInt((int)Math.Min(dp.RandSkip, int.MaxValue)) % _records;
            _db.Skip(skip);
            _cursor = skip;
            skipped = $", skipping the first {skip}";
        }
        string crop = _outHeight != _height || _outWidth != _width ? $", cropped to {_outHeight}×{_outWidth}" : "";
        Log.Info($"Data layer \"{Name}\": {_records} {(datum.Encoded ? "encoded " : "")}records {_channels}×{_height}×{_width} from LMDB {dp.Source}, batch {_batch}{crop}{skipped}", "data_layer.cs");
    }

    private static string Key(byte[] key) => System.Text.Encoding.UTF8.GetString(key);

    // The next record of the database, parsed.
    private (byte[] key, Datum datum) NextDatum()
    {
        var (key, value) = _db!.Next();
        Datum datum;
        try { datum = Datum.Parser.ParseFrom(value); }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw Error($"source \"{_db.Path}\": record \"{Key(key)}\" is not a Datum ({e.Message})");
        }
        return (key, datum);
    }

    /// <summary>
    /// transform_param, with Caffe's old data_param transform fields (scale, mean_file,
    /// crop_size, mirror) moved in, as Caffe's net upgrade does for nets built without it.
    /// </summary>
    private TransformationParameter EffectiveTransform(DataParameter dp)
    {
        var tp = Param.TransformParam?.Clone() ?? new TransformationParameter();
        void Clash(string field) => throw Error($"{field} is given both in data_param (Caffe's old place) and in transform_param; keep the transform_param one");
        if (dp.HasScale) { if (tp.HasScale && tp.Scale != dp.Scale) Clash("scale"); tp.Scale = dp.Scale; }
        if (dp.HasMeanFile) { if (tp.HasMeanFile && tp.MeanFile != dp.MeanFile) Clash("mean_file"); tp.MeanFile = dp.MeanFile; }
        if (dp.HasCropSize) { if (tp.HasCropSize && tp.CropSize != dp.CropSize) Clash("crop_size"); tp.CropSize = dp.CropSize; }
        if (dp.HasMirror) { if (tp.HasMirror && tp.Mirror != dp.Mirror) Clash("mirror"); tp.Mirror = dp.Mirror; }
        return tp;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        top[0].Reshape(_batch, _channels, _outHeight, _outWidth);
        if (top.Count > 1) top[1].Reshape(_batch);
    }

    protected override void LoadBatch(Span<float> data, Span<float> labels)
    {
        if (_db != null)
        {
            LoadLmdb(data, labels);
            return;
        }
        int inSize = _channels * _height * _width, outSize = _channels * _outHeight * _outWidth;
        var rng = Rng;
        for (int i = 0; i < _batch; i++)
        {
            if (_cursor == _records) NextEpoch();
            int record = _order != null ? _order[_cursor] : _cursor;
            _cursor++;
            _transformer.Transform(_images.AsSpan(record * inSize, inSize), _channels, _height, _width, data.Slice(i * outSize, outSize), rng);
            if (labels.Length > 0) labels[i] = _labels[record];
        }
    }

    private void LoadLmdb(Span<float> data, Span<float> labels)
    {
        int size = _channels * _height * _width, outSize = _channels * _outHeight * _outWidth;
        var rng = Rng;
        for (int i = 0; i < _batch; i++)
        {
            if (_cursor == _records) { _cursor = 0; _epoch++; }
            var (key, datum) = NextDatum();
            _cursor++;
            if (datum.Encoded)
            {
                var (c, h, w, planar) = _encoded!.Decode(datum, $"source \"{_db!.Path}\": record \"{Key(key)}\"");
                if (c != _channels || h != _height || w != _width)
                    throw Error($"source \"{_db.Path}\": record \"{Key(key)}\" decodes to {c}×{h}×{w}, but the first record is {_channels}×{_height}×{_width}");
                _transformer.Transform(planar, _channels, _height, _width, data.Slice(i * outSize, outSize), rng);
                if (labels.Length > 0) labels[i] = datum.Label;
                continue;
            }
            if (datum.Channels != _channels || datum.Height != _height || datum.Width != _width)
                throw Error($"source \"{_db!.Path}\": record \"{Key(key)}\" is {datum.Channels}×{datum.Height}×{datum.Width}, but the first record is {_channels}×{_height}×{_width}");
            var dst = data.Slice(i * outSize, outSize);
            if (datum.Data.Length == size)
                _transformer.Transform(datum.Data.Span, _channels, _height, _width, dst, rng);
            else if (datum.Data.Length == 0 && datum.FloatData.Count == size)
                _transformer.Transform(datum.FloatData.ToArray().AsSpan(), _channels, _height, _width, dst, rng);
            else
                throw Error($"source \"{_db!.Path}\": record \"{Key(key)}\" holds {datum.Data.Length} data bytes and {datum.FloatData.Count} float_data values for shape {_channels}×{_height}×{_width}");
            if (labels.Length > 0) labels[i] = datum.Label;
        }
    }

    private const int LmdbStateSize = 4 + 4 + 4 + 4 + 8 + 32;

    private void WriteLmdbState(Span<byte> span)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(span, LmdbStateMagic);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], StateVersion);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], _records);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], _cursor);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], _epoch);
        Rng.SaveState(span[24..]);
    }

    private void ReadLmdbState(ReadOnlySpan<byte> span)
    {
        if (span.Length != 24 + 32 || BinaryPrimitives.ReadUInt32LittleEndian(span) != LmdbStateMagic)
            throw Error($"the saved state ({span.Length} bytes) is not an LMDB Data layer's state; was the snapshot taken with another net or backend?");
        int version = BinaryPrimitives.ReadInt32LittleEndian(span[4..]);
        if (version != StateVersion)
            throw Error($"the saved state has version {version}; this build reads version {StateVersion}");
        int records = BinaryPrimitives.ReadInt32LittleEndian(span[8..]);
        int cursor = BinaryPrimitives.ReadInt32LittleEndian(span[12..]);
        long epoch = BinaryPrimitives.ReadInt64LittleEndian(span[16..]);
        if (records != _records)
            throw Error($"the saved state is for a database of {records} records, but {Param.DataParam.Source} has {_records}");
        if (cursor < 0 || cursor > records || epoch < 0)
            throw Error($"the saved state is damaged (record {cursor} of {records}, epoch {epoch})");
        Rng.LoadState(span[24..]);
        // Reopen the database and skip to the saved record.
        var source = _db!.Path;
        _db.Dispose();
        _db = new LmdbReader(source);
        _db.Skip(cursor);
        _cursor = cursor;
        _epoch = epoch;
    }

    private void NextEpoch()
    {
        _cursor = 0;
        _epoch++;
        if (_order != null) Rng.Shuffle<int>(_order);
    }

    protected override int ReaderStateSize => _db != null ? LmdbStateSize : 4 + 4 + 4 + 4 + 8 + 4 + 4 * (_order?.Length ?? 0) + 32;

    /// <summary>The position (cursor, epoch), the epoch's order and the generator.</summary>
    protected override void WriteReaderState(Span<byte> span)
    {
        if (_db != null)
        {
            WriteLmdbState(span);
            return;
        }
        int orderLength = _order?.Length ?? 0;
        BinaryPrimitives.WriteUInt32LittleEndian(span, StateMagic);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], StateVersion);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], _records);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], _cursor);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], _epoch);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], orderLength);
        for (int i = 0; i < orderLength; i++)
            BinaryPrimitives.WriteInt32LittleEndian(span[(28 + 4 * i)..], _order![i]);
        Rng.SaveState(span[(28 + 4 * orderLength)..]);
    }

    protected override void ReadReaderState(ReadOnlySpan<byte> span)
    {
        if (_db != null)
        {
            ReadLmdbState(span);
            return;
        }
        if (span.Length < 28 + 32 || BinaryPrimitives.ReadUInt32LittleEndian(span) != StateMagic)
            throw Error($"the saved state ({span.Length} bytes) is not a Data layer's state; was the snapshot taken with another net?");
        int version = BinaryPrimitives.ReadInt32LittleEndian(span[4..]);
        if (version != StateVersion)
            throw Error($"the saved state has version {version}; this build reads version {StateVersion}");
        int records = BinaryPrimitives.ReadInt32LittleEndian(span[8..]);
        int cursor = BinaryPrimitives.ReadInt32LittleEndian(span[12..]);
        long epoch = BinaryPrimitives.ReadInt64LittleEndian(span[16..]);
        int orderLength = BinaryPrimitives.ReadInt32LittleEndian(span[24..]);
        if (records != _records)
            throw Error($"the saved state is for a dataset of {records} records, but {Param.DataParam.Source} has {_records}");
        if (cursor < 0 || cursor > records || epoch < 0)
            throw Error($"the saved state is damaged (cursor {cursor} of {records}, epoch {epoch})");
        if (orderLength != (_order?.Length ?? 0))
            throw Error(_order != null
                ? "the saved state has no shuffled order, but this layer shuffles; was it saved with shuffle: false?"
                : "the saved state has a shuffled order, but this layer reads in file order; was it saved with shuffle: true?");
        if (span.Length != 28 + 4 * orderLength + 32)
            throw Error($"the saved state has {span.Length} bytes, expected {28 + 4 * orderLength + 32}");
        if (_order != null)
        {
            var seen = new bool[records];
            var order = new int[records];
            for (int i = 0; i < records; i++)
            {
                int r = BinaryPrimitives.ReadInt32LittleEndian(span[(28 + 4 * i)..]);
                if ((uint)r >= (uint)records || seen[r])
                    throw Error("the saved state's record order is not a permutation of the dataset; the snapshot is damaged");
                seen[r] = true;
                order[i] = r;
            }
            order.CopyTo(_order, 0);
        }
        Rng.LoadState(span[(28 + 4 * orderLength)..]);
        _cursor = cursor;
        _epoch = epoch;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _db?.Dispose();
    }
}
