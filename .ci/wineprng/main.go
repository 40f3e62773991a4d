// Command wineprng writes bcryptprimitives.dll for Wine 8, which lacks it:
// a PE32+ DLL with no code whose one export, ProcessPrng, forwards to
// advapi32.SystemFunction036 (RtlGenRandom). Go's runtime needs ProcessPrng
// at start, so without this every Go program aborts under Wine 8.
//
//	go run ./.ci/wineprng "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
)

const (
	fileAlign  = 0x200
	sectAlign  = 0x1000
	exportsRVA = sectAlign // the one section, at the first page
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wineprng <output.dll>")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], dll(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// exports builds the export directory and everything it points to, laid
// out from exportsRVA. A function RVA inside the export directory's range
// is a forwarder: the loader resolves it as "dll.function".
func exports() []byte {
	const (
		dirSize   = 40
		eatRVA    = exportsRVA + dirSize // function table: 1 entry
		namesRVA  = eatRVA + 4           // name pointer table: 1 entry
		ordRVA    = namesRVA + 4         // ordinal table: 1 entry
		stringRVA = ordRVA + 2           // the strings follow
	)
	dllName := "bcryptprimitives.dll\x00"
	funcName := "ProcessPrng\x00"
	forward := "advapi32.SystemFunction036\x00"
	dllNameRVA := uint32(stringRVA)
	funcNameRVA := dllNameRVA + uint32(len(dllName))
	forwardRVA := funcNameRVA + uint32(len(funcName))

	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	w(uint32(0))        // Characteristics
	w(uint32(0))        // TimeDateStamp
	w(uint32(0))        // Major/MinorVersion
	w(dllNameRVA)       // Name
	w(uint32(1))        // Base (first ordinal)
	w(uint32(1))        // NumberOfFunctions
	w(uint32(1))        // NumberOfNames
	w(uint32(eatRVA))   // AddressOfFunctions
	w(uint32(namesRVA)) // AddressOfNames
	w(uint32(ordRVA))   // AddressOfNameOrdinals
	w(forwardRVA)       // the function: a forwarder string
	w(funcNameRVA)      // its name
	w(uint16(0))        // its ordinal, minus Base
	b.WriteString(dllName)
	b.WriteString(funcName)
	b.WriteString(forward)
	return b.Bytes()
}

func dll() []byte {
	exp := exports()
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }

	// DOS header: only e_magic and e_lfanew matter.
	dos := make([]byte, 64)
	copy(dos, "MZ")
	binary.LittleEndian.PutUint32(dos[60:], 64)
	b.Write(dos)

	b.WriteString("PE\x00\x00")
	// COFF header.
	w(uint16(0x8664)) // Machine: AMD64
	w(uint16(1))      // NumberOfSections
	w(uint32(0))      // TimeDateStamp
	w(uint32(0))      // PointerToSymbolTable
	w(uint32(0))      // NumberOfSymbols
	w(uint16(240))    // SizeOfOptionalHeader (PE32+, 16 data directories)
	w(uint16(0x2022)) // Characteristics: EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE | DLL

	// Optional header, PE32+.
	w(uint16(0x20b))       // Magic
	w(uint16(0))           // Major/MinorLinkerVersion
	w(uint32(0))           // SizeOfCode
	w(uint32(fileAlign))   // SizeOfInitializedData
	w(uint32(0))           // SizeOfUninitializedData
	w(uint32(0))           // AddressOfEntryPoint: none, no DllMain
	w(uint32(0))           // BaseOfCode
	w(uint64(0x180000000)) // ImageBase
	w(uint32(sectAlign))   // SectionAlignment
	w(uint32(fileAlign))   // FileAlignment
	w(uint16(6))
	w(uint16(0)) // OperatingSystemVersion
	w(uint16(0))
	w(uint16(0)) // ImageVersion
	w(uint16(6))
	w(uint16(0))             // SubsystemVersion
	w(uint32(0))             // Win32VersionValue
	w(uint32(2 * sectAlign)) // SizeOfImage: headers page + one section
	w(uint32(fileAlign))     // SizeOfHeaders
	w(uint32(0))             // CheckSum
	w(uint16(3))             // Subsystem: console
	w(uint16(0x100))         // DllCharacteristics: NX_COMPAT
	w(uint64(0x100000))
	w(uint64(0x1000)) // stack reserve, commit
	w(uint64(0x100000))
	w(uint64(0x1000)) // heap reserve, commit
	w(uint32(0))      // LoaderFlags
	w(uint32(16))     // NumberOfRvaAndSizes
	w(uint32(exportsRVA))
	w(uint32(len(exp))) // the export directory
	for range 15 {
		w(uint64(0))
	}

	// The one section.
	name := [8]byte{}
	copy(name[:], ".edata")
	b.Write(name[:])
	w(uint32(len(exp)))   // VirtualSize
	w(uint32(exportsRVA)) // VirtualAddress
	w(uint32(fileAlign))  // SizeOfRawData
	w(uint32(fileAlign))  // PointerToRawData
	w(uint32(0))
	w(uint32(0)) // relocations, line numbers
	w(uint16(0))
	w(uint16(0))
	w(uint32(0x40000040)) // INITIALIZED_DATA | MEM_READ

	b.Write(make([]byte, fileAlign-b.Len()))
	b.Write(exp)
	b.Write(make([]byte, 2*fileAlign-b.Len()))
	return b.Bytes()
}
