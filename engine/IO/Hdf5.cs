using System.Runtime.InteropServices;
using System.Text;

namespace Engine.IO;

/// <summary>
/// A minimal binding to the system's HDF5 C library (Debian: libhdf5-103-1, which installs
/// libhdf5_serial.so.103), loaded on first use so that nets without HDF5 layers never need it.
/// Only what Caffe's HDF5 layers use: open/create a file, list-free access to root datasets by
/// name, read one as float (HDF5 converts float, double and integer datasets), write a float
/// dataset. The serial library is not thread-safe, so every call goes through one lock.
/// </summary>
public static unsafe class Hdf5
{
    internal const string LibraryName = "libhdf5_serial.so.103";
    internal const string DebianPackage = "libhdf5-103-1";
    internal const uint AccRdOnly = 0x0000, AccTrunc = 0x0002;
    internal const long Default = 0, All = 0;
    internal const int ClassInteger = 0, ClassFloat = 1;
    internal const int ScopeGlobal = 1;

    internal sealed class Api
    {
        public delegate* unmanaged<int> Open;
        public delegate* unmanaged<long, delegate* unmanaged<long, void*, int>, void*, int> ESetAuto;
        public delegate* unmanaged<byte*, uint, long, long> FOpen;
        public delegate* unmanaged<byte*, uint, long, long, long> FCreate;
        public delegate* unmanaged<long, int, int> FFlush;
        public delegate* unmanaged<long, int> FClose;
        public delegate* unmanaged<long, byte*, long, int> LExists;
        public delegate* unmanaged<long, byte*, long, long> DOpen;
        public delegate* unmanaged<long, byte*, long, long, long, long, long, long> DCreate;
        public delegate* unmanaged<long, long> DGetSpace;
        public delegate* unmanaged<long, long> DGetType;
        public delegate* unmanaged<long, long, long, long, long, void*, int> DRead;
        public delegate* unmanaged<long, long, long, long, long, void*, int> DWrite;
        public delegate* unmanaged<long, int> DClose;
        public delegate* unmanaged<int, ulong*, ulong*, long> SCreateSimple;
        public delegate* unmanaged<long, int> SGetNDims;
        public delegate* unmanaged<long, ulong*, ulong*, int> SGetDims;
        public delegate* unmanaged<long, int> SClose;
        public delegate* unmanaged<long, int> TGetClass;
        public delegate* unmanaged<long, int> TClose;
        public long NativeFloat;
    }

    internal static readonly Lock Gate = new();
    private static Api? _api;

    /// <summary>Whether the HDF5 library can be loaded on this machine.</summary>
    public static bool IsAvailable
    {
        get
        {
            try { _ = Native; return true; }
            catch (EngineException) { return false; }
        }
    }

    internal static Api Native
    {
        get
        {
            lock (Gate)
            {
                if (_api != null) return _api;
                if (!NativeLibrary.TryLoad(LibraryName, out nint lib))
                    throw new EngineException($"HDF5 support needs the HDF5 library {LibraryName} (Debian: apt-get install {DebianPackage})");
                nint F(string name) => NativeLibrary.GetExport(lib, name);
                var api = new Api
                {
                    Open = (delegate* unmanaged<int>)F("H5open"),
                    ESetAuto = (delegate* unmanaged<long, delegate* unmanaged<long, void*, int>, void*, int>)F("H5Eset_auto2"),
                    FOpen = (delegate* unmanaged<byte*, uint, long, long>)F("H5Fopen"),
                    FCreate = (delegate* unmanaged<byte*, uint, long, long, long>)F("H5Fcreate"),
                    FFlush = (delegate* unmanaged<long, int, int>)F("H5Fflush"),
                    FClose = (delegate* unmanaged<long, int>)F("H5Fclose"),
                    LExists = (delegate* unmanaged<long, byte*, long, int>)F("H5Lexists"),
                    DOpen = (delegate* unmanaged<long, byte*, long, long>)F("H5Dopen2"),
                    DCreate = (delegate* unmanaged<long, byte*, long, long, long, long, long, long>)F("H5Dcreate2"),
                    DGetSpace = (delegate* unmanaged<long, long>)F("H5Dget_space"),
                    DGetType = (delegate* unmanaged<long, long>)F("H5Dget_type"),
                    DRead = (delegate* unmanaged<long, long, long, long, long, void*, int>)F("H5Dread"),
                    DWrite = (delegate* unmanaged<long, long, long, long, long, void*, int>)F("H5Dwrite"),
                    DClose = (delegate* unmanaged<long, int>)F("H5Dclose"),
                    SCreateSimple = (delegate* unmanaged<int, ulong*, ulong*, long>)F("H5Screate_simple"),
                    SGetNDims = (delegate* unmanaged<long, int>)F("H5Sget_simple_extent_ndims"),
                    SGetDims = (delegate* unmanaged<long, ulong*, ulong*, int>)F("H5Sget_simple_extent_dims"),
                    SClose = (delegate* unmanaged<long, int>)F("H5Sclose"),
                    TGetClass = (delegate* unmanaged<long, int>)F("H5Tget_class"),
                    TClose = (delegate* unmanaged<long, int>)F("H5Tclose"),
                };
                // The predefined type ids are global variables that H5open fills in.
                if (api.Open() < 0) throw new EngineException($"HDF5: H5open failed in {LibraryName}");
                api.NativeFloat = *(long*)F("H5T_NATIVE_FLOAT_g");
                // Errors are reported by us, with the file and dataset names; keep HDF5's own stack off stderr.
                api.ESetAuto(0, null, null);
                _api = api;
                return _api;
            }
        }
    }

    internal static byte[] Z(string s) => Encoding.UTF8.GetBytes(s + "\0");
}

/// <summary>
/// One HDF5 file opened read-only (<see cref="OpenRead"/>) or created (<see cref="Create"/>);
/// datasets are addressed by name from the root group.
/// </summary>
public sealed unsafe class Hdf5File : IDisposable
{
    private long _file;

    /// <summary>The file's path as given.</summary>
    public string Path { get; }

    private Hdf5File(string path, long file)
    {
        Path = path;
        _file = file;
    }

    /// <summary>Open an existing file read-only.</summary>
    public static Hdf5File OpenRead(string path)
    {
        var api = Hdf5.Native;
        InputFile.MustExist(path);
        long f;
        lock (Hdf5.Gate)
            fixed (byte* p = Hdf5.Z(path)) f = api.FOpen(p, Hdf5.AccRdOnly, Hdf5.Default);
        if (f < 0) throw new EngineException($"{path}: not an HDF5 file, or it cannot be read");
        return new Hdf5File(path, f);
    }

    /// <summary>Create (or truncate) a file.</summary>
    public static Hdf5File Create(string path)
    {
        var api = Hdf5.Native;
        long f;
        lock (Hdf5.Gate)
            fixed (byte* p = Hdf5.Z(path)) f = api.FCreate(p, Hdf5.AccTrunc, Hdf5.Default, Hdf5.Default);
        if (f < 0) throw new EngineException($"{path}: cannot create an HDF5 file there");
        return new Hdf5File(path, f);
    }

    /// <summary>Whether the root group has a link called <paramref name="name"/>.</summary>
    public bool Has(string name)
    {
        ObjectDisposedException.ThrowIf(_file == 0, this);
        var api = Hdf5.Native;
        lock (Hdf5.Gate)
            fixed (byte* p = Hdf5.Z(name)) return api.LExists(_file, p, Hdf5.Default) > 0;
    }

    /// <summary>The shape of dataset <paramref name="name"/> (its dimensions, first = records).</summary>
    public int[] Shape(string name)
    {
        lock (Hdf5.Gate)
        {
            long d = OpenDataset(name);
            try { return ShapeOf(d, name, out _); }
            finally { Hdf5.Native.DClose(d); }
        }
    }

    /// <summary>
    /// Read dataset <paramref name="name"/> as float into <paramref name="buffer"/> (grown when too
    /// small; reused otherwise) and return its shape. Float, double and integer datasets are
    /// converted by HDF5; other types are refused.
    /// </summary>
    public int[] Read(string name, ref float[] buffer)
    {
        var api = Hdf5.Native;
        lock (Hdf5.Gate)
        {
            long d = OpenDataset(name);
            try
            {
                var shape = ShapeOf(d, name, out long count);
                long t = api.DGetType(d);
                int cls = api.TGetClass(t);
                api.TClose(t);
                if (cls != Hdf5.ClassFloat && cls != Hdf5.ClassInteger)
                    throw new EngineException($"{Path}: dataset \"{name}\" holds neither numbers nor floats (HDF5 type class {cls}); expected float or double data");
                if (count > Array.MaxLength) throw new EngineException($"{Path}: dataset \"{name}\" has {count} values, too many to hold");
                if (buffer.Length < count) buffer = new float[count];
                if (count > 0)
                {
                    int rc;
                    fixed (float* b = buffer) rc = api.DRead(d, api.NativeFloat, Hdf5.All, Hdf5.All, Hdf5.Default, b);
                    if (rc < 0) throw new EngineException($"{Path}: dataset \"{name}\" cannot be read (damaged file?)");
                }
                return shape;
            }
            finally { api.DClose(d); }
        }
    }

    /// <summary>Write a new float dataset <paramref name="name"/> of <paramref name="shape"/>.</summary>
    public void Write(string name, ReadOnlySpan<int> shape, ReadOnlySpan<float> data)
    {
        ObjectDisposedException.ThrowIf(_file == 0, this);
        var api = Hdf5.Native;
        long count = 1;
        var dims = new ulong[shape.Length];
        for (int i = 0; i < shape.Length; i++) { dims[i] = (ulong)shape[i]; count *= shape[i]; }
        if (data.Length != count) throw new ArgumentException($"{data.Length} values do not fill the shape ({string.Join(", ", shape.ToArray())})", nameof(data));
        lock (Hdf5.Gate)
        {
            long space;
            fixed (ulong* dp = dims) space = api.SCreateSimple(dims.Length, dp, null);
            if (space < 0) throw new EngineException($"{Path}: cannot describe dataset \"{name}\" of shape ({string.Join(", ", dims)})");
            long d;
            fixed (byte* p = Hdf5.Z(name)) d = api.DCreate(_file, p, api.NativeFloat, space, Hdf5.Default, Hdf5.Default, Hdf5.Default);
            api.SClose(space);
            if (d < 0) throw new EngineException($"{Path}: cannot create dataset \"{name}\" (does it exist already?)");
            int rc;
            fixed (float* b = data) rc = count == 0 ? 0 : api.DWrite(d, api.NativeFloat, Hdf5.All, Hdf5.All, Hdf5.Default, b);
            api.DClose(d);
            if (rc < 0) throw new EngineException($"{Path}: writing dataset \"{name}\" failed (disk full?)");
        }
    }

    /// <summary>Flush everything written so far to the file.</summary>
    public void Flush()
    {
        lock (Hdf5.Gate)
            if (Hdf5.Native.FFlush(_file, Hdf5.ScopeGlobal) < 0) throw new EngineException($"{Path}: flushing the HDF5 file failed (disk full?)");
    }

    private long OpenDataset(string name)
    {
        ObjectDisposedException.ThrowIf(_file == 0, this);
        var api = Hdf5.Native;
        byte[] z = Hdf5.Z(name);
        fixed (byte* p = z)
        {
            if (api.LExists(_file, p, Hdf5.Default) <= 0) throw new EngineException($"{Path}: no dataset \"{name}\"");
            long d = api.DOpen(_file, p, Hdf5.Default);
            if (d < 0) throw new EngineException($"{Path}: \"{name}\" is not a dataset");
            return d;
        }
    }

    private int[] ShapeOf(long d, string name, out long count)
    {
        var api = Hdf5.Native;
        long space = api.DGetSpace(d);
        try
        {
            int n = api.SGetNDims(space);
            if (n < 0) throw new EngineException($"{Path}: dataset \"{name}\" has no simple shape");
            var dims = new ulong[n];
            fixed (ulong* dp = dims) api.SGetDims(space, dp, null);
            var shape = new int[n];
            count = 1;
            for (int i = 0; i < n; i++)
            {
                if (dims[i] > int.MaxValue) throw new EngineException($"{Path}: dataset \"{name}\" axis {i} has {dims[i]} entries, too many");
                shape[i] = (int)dims[i];
                count *= shape[i];
            }
            return shape;
        }
        finally { api.SClose(space); }
    }

    private void Release()
    {
        if (_file == 0) return;
        lock (Hdf5.Gate) Hdf5.Native.FClose(_file);
        _file = 0;
    }

    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    ~Hdf5File() => Release();
}
