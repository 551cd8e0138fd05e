using System.Buffers.Binary;
using System.Globalization;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's ImageData layer: image_data_param.source is a text file of lines
/// <c>relative/path label</c> (split at the last space; the path may not contain spaces).
/// Each image is read from <c>root_folder + path</c> (plain concatenation, as Caffe does, so give
/// root_folder a trailing slash) when its batch is loaded. Formats: PNG, PPM, PGM
/// (<see cref="ImageDecoders"/>).
/// <list type="bullet">
/// <item>is_color (default true): 3 channels in B, G, R order, as Caffe/OpenCV store them; false:
/// 1 gray channel (colour images converted with OpenCV's weights 0.299 R + 0.587 G + 0.114 B).</item>
/// <item>new_height and new_width (both): bilinear resize with OpenCV's half-pixel centres,
/// rounded back to 8 bits. Without them every image must have the size of the list's first.</item>
/// <item>shuffle: a fresh order from the layer's generator at set-up and every epoch (in either
/// phase, as Caffe does). rand_skip skips a random count in [0, rand_skip) at set-up.</item>
/// <item>transform_param (or the old image_data_param scale/crop_size/mirror): see
/// <see cref="DataTransformer"/>.</item>
/// </list>
/// Tops: data (batch×C×H×W) and label (batch). <see cref="SaveState"/> carries the cursor, the
/// epoch's order and the generator, so a restored layer continues with the same batches. Batches
/// are read and decoded ahead on a thread (data_param.prefetch, see <see cref="PrefetchingDataLayer"/>).
/// </summary>
[LayerType("ImageData")]
public sealed class ImageDataLayer(LayerParameter param) : PrefetchingDataLayer(param)
{
    private const uint StateMagic = 0x31474D49; // "IMG1", little-endian
    private const int StateVersion = 1;

    private DataTransformer _transformer = null!;
    private readonly List<(string path, int label, int line)> _lines = [];
    private string _source = "", _root = "";
    private int _batch, _channels, _height, _width, _outHeight, _outWidth;
    private bool _resize, _shuffle;
    private string _firstImage = "";
    private int[] _order = [];
    private int _cursor;
    private long _epoch;
    private byte[] _record = [];

    public override int ExactBottoms => 0;
    public override int MinTops => 1;
    public override int MaxTops => 2;

    /// <summary>Images in the list file.</summary>
    public int Count => _lines.Count;

    protected override (long epoch, int cursor) ReaderPosition => (_epoch, _cursor);

    protected override void DataLayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ImageDataParam ?? throw Error("image_data_param is missing; give source (a list of \"path label\" lines) and batch_size");
        if (!p.HasSource || p.Source.Length == 0) throw Error("image_data_param.source is missing; give a list file of \"path label\" lines");
        if (p.BatchSize == 0 || p.BatchSize > int.MaxValue) throw Error($"image_data_param.batch_size {p.BatchSize} must be positive");
        if ((p.NewHeight == 0) != (p.NewWidth == 0))
            throw Error($"image_data_param: give both new_height and new_width, or neither (got {p.NewHeight} and {p.NewWidth})");
        if (p.NewHeight > 65536 || p.NewWidth > 65536) throw Error($"image_data_param: new size {p.NewHeight}×{p.NewWidth} is too large");
        _batch = (int)p.BatchSize;
        _source = p.Source;
        _root = p.RootFolder;
        _channels = p.IsColor ? 3 : 1;
        _resize = p.NewHeight > 0;
        _transformer = new DataTransformer(EffectiveTransform(p), Phase, Error);
        ReadList();

        _order = new int[_lines.Count];
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        _shuffle = p.Shuffle;
        if (_shuffle) Rng.Shuffle<int>(_order);
        _cursor = 0;
        _epoch = 0;
        string skipped = "";
        if (p.RandSkip > 0)
        {
            _cursor = Rng.NextInt((int)Math.Min(p.RandSkip, int.MaxValue)) % _lines.Count;
            skipped = $", skipping the first {_cursor}";
        }

        // The list's first image sets the size (unless resizing).
        if (_resize)
        {
            _height = (int)p.NewHeight;
            _width = (int)p.NewWidth;
        }
        else
        {
            var first = Load(0, checkSize: false);
            _height = first.Height;
            _width = first.Width;
        }
        _firstImage = _root + _lines[0].path;
        (_outHeight, _outWidth) = _transformer.OutputSize(_channels, _height, _width);
        _record = new byte[_channels * _height * _width];
        string crop = _outHeight != _height || _outWidth != _width ? $", cropped to {_outHeight}×{_outWidth}" : "";
        Log.Info($"ImageData layer \"{Name}\": {_lines.Count} images from {_source}, {(_channels == 3 ? "colour" : "gray")} {_height}×{_width}" +
                 (_resize ? " (resized)" : "") + $", batch {_batch}{crop}{(_shuffle ? ", shuffled every epoch" : "")}{skipped}", "image_data_layer.cs");
    }

    private TransformationParameter EffectiveTransform(ImageDataParameter p)
    {
        var tp = Param.TransformParam?.Clone() ?? new TransformationParameter();
        void Clash(string field) => throw Error($"{field} is given both in image_data_param (Caffe's old place) and in transform_param; keep the transform_param one");
        if (p.HasScale) { if (tp.HasScale && tp.Scale != p.Scale) Clash("scale"); tp.Scale = p.Scale; }
        if (p.HasMeanFile) { if (tp.HasMeanFile && tp.MeanFile != p.MeanFile) Clash("mean_file"); tp.MeanFile = p.MeanFile; }
        if (p.HasCropSize) { if (tp.HasCropSize && tp.CropSize != p.CropSize) Clash("crop_size"); tp.CropSize = p.CropSize; }
        if (p.HasMirror) { if (tp.HasMirror && tp.Mirror != p.Mirror) Clash("mirror"); tp.Mirror = p.Mirror; }
        return tp;
    }

    private void ReadList()
    {
        string[] text;
        try { text = File.ReadAllLines(_source); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Error(File.Exists(_source) || Directory.Exists(_source)
                ? $"cannot read the list file \"{_source}\": {e.Message}"
                : $"the list file \"{_source}\" does not exist");
        }
        _lines.Clear();
        for (int i = 0; i < text.Length; i++)
        {
            string line = text[i].Trim();
            if (line.Length == 0) continue;
            int space = line.LastIndexOfAny([' ', '\t']);
            if (space < 0)
                throw Error($"list file \"{_source}\" line {i + 1}: \"{line}\" has no label; each line is \"path label\"");
            string path = line[..space].TrimEnd();
            string labelText = line[(space + 1)..];
            if (!int.TryParse(labelText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int label))
                throw Error($"list file \"{_source}\" line {i + 1}: label \"{labelText}\" is not an integer");
            _lines.Add((path, label, i + 1));
        }
        if (_lines.Count == 0) throw Error($"list file \"{_source}\" has no images");
    }

    private string Where(int index) => $"list file \"{_source}\" line {_lines[index].line}: image \"{_root + _lines[index].path}\"";

    // Decode list entry `index` into C×H×W bytes (BGR or gray), resized when asked.
    private (int Height, int Width, byte[] Planar) Load(int index, bool checkSize)
    {
        string file = _root + _lines[index].path;
        byte[] bytes;
        try { bytes = File.ReadAllBytes(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Error(File.Exists(file) ? $"{Where(index)} cannot be read: {e.Message}" : $"{Where(index)} does not exist");
        }
        DecodedImage img;
        try { img = ImageDecoders.Decode(bytes); }
        catch (UnsupportedImageException e) { throw Error($"{Where(index)} has an unsupported format: {e.Message}"); }
        catch (CorruptImageException e) { throw Error($"{Where(index)} is corrupt: {e.Message}"); }

        var planar = ToPlanar(img, _channels);
        int h = img.Height, w = img.Width;
        if (_resize)
        {
            if (h != _height || w != _width) planar = Resize(planar, _channels, h, w, _height, _width);
            h = _height; w = _width;
        }
        else if (checkSize && (h != _height || w != _width))
            throw Error($"{Where(index)} is {h}×{w} (height×width) but the first image \"{_firstImage}\" is {_height}×{_width}; give new_height and new_width to resize them all");
        return (h, w, planar);
    }

    /// <summary>Interleaved gray or RGB → planar gray (1 channel) or B, G, R (3 channels).</summary>
    public static byte[] ToPlanar(DecodedImage img, int channels)
    {
        int n = img.Width * img.Height;
        var o = new byte[channels * n];
        var px = img.Pixels;
        if (channels == 3)
        {
            for (int i = 0; i < n; i++)
            {
                if (img.Channels == 3) { o[i] = px[3 * i + 2]; o[n + i] = px[3 * i + 1]; o[2 * n + i] = px[3 * i]; }
                else o[i] = o[n + i] = o[2 * n + i] = px[i];
            }
        }
        else
        {
            for (int i = 0; i < n; i++)
                o[i] = img.Channels == 1 ? px[i] : Gray(px[3 * i], px[3 * i + 1], px[3 * i + 2]);
        }
        return o;
    }

    /// <summary>OpenCV's RGB→gray in fixed point: (4899 R + 9617 G + 1868 B + 8192) >> 14.</summary>
    public static byte Gray(byte r, byte g, byte b) => (byte)((4899 * r + 9617 * g + 1868 * b + 8192) >> 14);

    /// <summary>
    /// Bilinear resize of planar 8-bit channels with OpenCV's half-pixel centres
    /// (source x = (x + 0.5)·inW/outW − 0.5, clamped to the edge), rounded to nearest.
    /// </summary>
    public static byte[] Resize(byte[] src, int channels, int inH, int inW, int outH, int outW)
    {
        var dst = new byte[channels * outH * outW];
        static (int i0, int i1, double f) Axis(int o, int inSize, int outSize)
        {
            double s = (o + 0.5) * inSize / outSize - 0.5;
            if (s <= 0) return (0, 0, 0);
            int i0 = (int)Math.Floor(s);
            if (i0 >= inSize - 1) return (inSize - 1, inSize - 1, 0);
            return (i0, i0 + 1, s - i0);
        }
        for (int y = 0; y < outH; y++)
        {
            var (y0, y1, fy) = Axis(y, inH, outH);
            for (int x = 0; x < outW; x++)
            {
                var (x0, x1, fx) = Axis(x, inW, outW);
                for (int c = 0; c < channels; c++)
                {
                    int b = c * inH * inW;
                    double top = src[b + y0 * inW + x0] * (1 - fx) + src[b + y0 * inW + x1] * fx;
                    double bot = src[b + y1 * inW + x0] * (1 - fx) + src[b + y1 * inW + x1] * fx;
                    double v = top * (1 - fy) + bot * fy;
                    dst[(c * outH + y) * outW + x] = (byte)Math.Clamp(Math.Round(v, MidpointRounding.AwayFromZero), 0, 255);
                }
            }
        }
        return dst;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        top[0].Reshape(_batch, _channels, _outHeight, _outWidth);
        if (top.Count > 1) top[1].Reshape(_batch);
    }

    protected override void LoadBatch(Span<float> data, Span<float> labels)
    {
        int outSize = _channels * _outHeight * _outWidth;
        var rng = Rng;
        for (int i = 0; i < _batch; i++)
        {
            if (_cursor == _lines.Count) NextEpoch();
            int index = _order[_cursor];
            _cursor++;
            var (_, _, planar) = Load(index, checkSize: true);
            _transformer.Transform(planar, _channels, _height, _width, data.Slice(i * outSize, outSize), rng);
            if (labels.Length > 0) labels[i] = _lines[index].label;
        }
    }

    private void NextEpoch()
    {
        _cursor = 0;
        _epoch++;
        if (_shuffle) Rng.Shuffle<int>(_order);
    }

    /// <summary>The position (cursor, epoch), the epoch's order and the generator.</summary>
    protected override int ReaderStateSize => 28 + 4 * _order.Length + 32;

    protected override void WriteReaderState(Span<byte> span)
    {
        int n = _order.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(span, StateMagic);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], StateVersion);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], n);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], _cursor);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], _epoch);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], _shuffle ? 1 : 0);
        for (int i = 0; i < n; i++) BinaryPrimitives.WriteInt32LittleEndian(span[(28 + 4 * i)..], _order[i]);
        Rng.SaveState(span[(28 + 4 * n)..]);
    }

    protected override void ReadReaderState(ReadOnlySpan<byte> span)
    {
        if (span.Length < 28 + 32 || BinaryPrimitives.ReadUInt32LittleEndian(span) != StateMagic)
            throw Error($"the saved state ({span.Length} bytes) is not an ImageData layer's state; was the snapshot taken with another net?");
        int version = BinaryPrimitives.ReadInt32LittleEndian(span[4..]);
        if (version != StateVersion) throw Error($"the saved state has version {version}; this build reads version {StateVersion}");
        int n = BinaryPrimitives.ReadInt32LittleEndian(span[8..]);
        int cursor = BinaryPrimitives.ReadInt32LittleEndian(span[12..]);
        long epoch = BinaryPrimitives.ReadInt64LittleEndian(span[16..]);
        if (n != _lines.Count)
            throw Error($"the saved state is for a list of {n} images, but {_source} has {_lines.Count}");
        if (cursor < 0 || cursor > n || epoch < 0 || span.Length != 28 + 4 * n + 32)
            throw Error($"the saved state is damaged (cursor {cursor} of {n}, epoch {epoch}, {span.Length} bytes)");
        var seen = new bool[n];
        var order = new int[n];
        for (int i = 0; i < n; i++)
        {
            int r = BinaryPrimitives.ReadInt32LittleEndian(span[(28 + 4 * i)..]);
            if ((uint)r >= (uint)n || seen[r])
                throw Error("the saved state's image order is not a permutation of the list; the snapshot is damaged");
            seen[r] = true;
            order[i] = r;
        }
        Rng.LoadState(span[(28 + 4 * n)..]);
        order.CopyTo(_order, 0);
        _cursor = cursor;
        _epoch = epoch;
    }
}
