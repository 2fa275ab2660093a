using System.Runtime.InteropServices;

namespace Hotpath.Agent.Perf;

/// <summary>
/// Linux's perf_event_open(2) and what goes with it (mmap, ioctl, close), as the kernel's uapi
/// <c>linux/perf_event.h</c> defines them, for x86-64 and arm64.
/// </summary>
internal static partial class PerfNative
{
    public const uint TypeSoftware = 1;
    public const ulong CountSwCpuClock = 0;

    public const ulong SampleTid = 1UL << 1;
    public const ulong SampleTime = 1UL << 2;
    public const ulong SampleCallchain = 1UL << 5;
    public const ulong SamplePeriod = 1UL << 8;

    public const ulong FlagDisabled = 1UL << 0;
    public const ulong FlagFreq = 1UL << 10;
    public const ulong FlagExcludeCallchainKernel = 1UL << 21;

    public const uint RecordLost = 2;
    public const uint RecordSample = 9;

    /// <summary>Call chain entries at or above this are context markers (PERF_CONTEXT_USER, …), not addresses.</summary>
    public const ulong ContextMax = unchecked((ulong)-4095);

    private const nuint PerfFlagFdCloexec = 8;
    private const nuint IocEnable = 0x2400;
    private const int ProtRead = 1, ProtWrite = 2, MapShared = 1;

    /// <summary>The syscall's number: x86-64 298, arm64 241.</summary>
    private static long SyscallNumber => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 298,
        Architecture.Arm64 => 241,
        _ => -1,
    };

    /// <summary>perf_event_attr, 128 bytes (PERF_ATTR_SIZE_VER7); fields past what is set stay zero.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 128)]
    public struct EventAttr
    {
        public uint Type;
        public uint Size;
        public ulong Config;
        public ulong SampleFrequency;
        public ulong SampleType;
        public ulong ReadFormat;
        public ulong Flags;
    }

    /// <summary>Opens a sampling event; the descriptor, or -1 with the errno.</summary>
    public static int Open(ref EventAttr attr, int pid, int cpu, out int errno)
    {
        if (SyscallNumber < 0)
        {
            errno = 38; // ENOSYS
            return -1;
        }

        attr.Size = 128;
        var fd = (int)Syscall(SyscallNumber, ref attr, pid, cpu, -1, PerfFlagFdCloexec);
        errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
        return fd;
    }

    public static bool Enable(int fd) => Ioctl(fd, IocEnable, 0) == 0;

    /// <summary>Maps the event's ring: one metadata page, then a power of two of pages of records.</summary>
    public static nint Map(int fd, nuint bytes) => Mmap(0, bytes, ProtRead | ProtWrite, MapShared, fd, 0);

    public static bool IsMapFailure(nint address) => address == -1;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, ref EventAttr attr, int pid, int cpu, int groupFd, nuint flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, nint argument);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Unmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);
}
