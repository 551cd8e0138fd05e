using System.Buffers.Binary;
using Engine.Core;
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
/// LEVELDB and LMDB arrive with a later piece.
/// </summary>
[LayerType("Data")]
public sealed class DataLayer(LayerParameter param) : Layer(param)
{
    private const uint StateMagic = 0x31584449; // "IDX1", little-endian
    private const int StateVersion = 1;

    private DataTransformer _transformer = null!;
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

    /// <summary>Full passes over the dataset begun before the current one.</summary>
    public long Epoch => _epoch;

    /// <summary>Position of the next record in the current epoch's order.</summary>
    public int Cursor => _cursor;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var dp = Param.DataParam ?? throw Error("data_param is missing; give source, label_source, backend: IDX and batch_size");
        if (dp.Backend != DataParameter.Types.DB.Idx)
            throw Error($"backend {dp.Backend.ToString().ToUpperInvariant()} arrives with the data piece; use backend: IDX with source and label_source");
        if (!dp.HasSource || dp.Source.Length == 0)
            throw Error("data_param.source is missing; backend IDX needs the images file (e.g. train-images-idx3-ubyte.gz)");
        if (top.Count == 2 && (!dp.HasLabelSource || dp.LabelSource.Length == 0))
            throw Error($"data_param.label_source is missing; top \"{top[1].Name}\" needs the labels file (e.g. train-labels-idx1-ubyte.gz)");
        if (dp.BatchSize == 0)
            throw Error("data_param.batch_size must be given and positive");
        if (dp.BatchSize > int.MaxValue)
            throw Error($"data_param.batch_size {dp.BatchSize} is too large");
        _batch = (int)dp.BatchSize;

        _transformer = new DataTransformer(EffectiveTransform(dp), Phase, Error);

        var (dims, images) = IdxFile.Read(dp.Source, IdxFile.ImagesMagic, "source", Error);
        _images = images;
        _records = dims[0];
        _height = dims[1];
        _width = dims[2];
        if (dp.HasLabelSource && dp.LabelSource.Length > 0)
        {
            var (ldims, labels) = IdxFile.Read(dp.LabelSource, IdxFile.LabelsMagic, "label_source", Error);
            if (ldims[0] != _records)
                throw Error($"source \"{dp.Source}\" has {_records} images but label_source \"{dp.LabelSource}\" has {ldims[0]} labels");
            _labels = labels;
        }
        (_outHeight, _outWidth) = _transformer.OutputSize(1, _height, _width);

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
        Log.Info($"Data layer \"{Name}\": {_records} images {_height}×{_width} from {dp.Source}" +
                 (_labels.Length > 0 ? $" (labels {dp.LabelSource})" : "") +
                 $", batch {_batch}{crop}{order}{skipped}", "data_layer.cs");
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
        top[0].Reshape(_batch, 1, _outHeight, _outWidth);
        if (top.Count > 1) top[1].Reshape(_batch);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var data = top[0].Data;
        var labels = top.Count > 1 ? top[1].Data : Span<float>.Empty;
        int inSize = _height * _width, outSize = _outHeight * _outWidth;
        var rng = Rng;
        for (int i = 0; i < _batch; i++)
        {
            if (_cursor == _records) NextEpoch();
            int record = _order != null ? _order[_cursor] : _cursor;
            _cursor++;
            _transformer.Transform(_images.AsSpan(record * inSize, inSize), 1, _height, _width, data.Slice(i * outSize, outSize), rng);
            if (labels.Length > 0) labels[i] = _labels[record];
        }
    }

    private void NextEpoch()
    {
        _cursor = 0;
        _epoch++;
        if (_order != null) Rng.Shuffle<int>(_order);
    }

    /// <summary>The position (cursor, epoch), the epoch's order and the generator.</summary>
    public override byte[] SaveState()
    {
        int orderLength = _order?.Length ?? 0;
        var s = new byte[4 + 4 + 4 + 4 + 8 + 4 + 4 * orderLength + 32];
        var span = s.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, StateMagic);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], StateVersion);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], _records);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], _cursor);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], _epoch);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], orderLength);
        for (int i = 0; i < orderLength; i++)
            BinaryPrimitives.WriteInt32LittleEndian(span[(28 + 4 * i)..], _order![i]);
        Rng.SaveState().CopyTo(span[(28 + 4 * orderLength)..]);
        return s;
    }

    public override void LoadState(byte[] state)
    {
        var span = state.AsSpan();
        if (span.Length < 28 + 32 || BinaryPrimitives.ReadUInt32LittleEndian(span) != StateMagic)
            throw Error($"the saved state ({state.Length} bytes) is not a Data layer's state; was the snapshot taken with another net?");
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
            throw Error($"the saved state has {state.Length} bytes, expected {28 + 4 * orderLength + 32}");
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
}
