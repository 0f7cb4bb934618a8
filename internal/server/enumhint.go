package server

import (
	"regexp"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// badEnum is the gateway's message for a query parameter that names no
// value of its enum ("verdict=FLAGGED" for VERDICT_FLAGGED).
var badEnum = regexp.MustCompile(`^parsing field "([a-z_]+)": "(.*)" is not a valid value$`)

// enumHint adds to the gateway's refusal of a query parameter's enum
// value the values it takes, which it does not name: a new user's trial
// tried ?verdict=FLAGGED and ?minSeverity=CRITICAL and learned only that
// they were not valid. Other errors are returned as they are.
func enumHint(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return err
	}
	m := badEnum.FindStringSubmatch(st.Message())
	if m == nil {
		return err
	}
	values, ok := apiEnums()[m[1]]
	if !ok {
		return err
	}
	return status.Errorf(codes.InvalidArgument, "%s: want one of %s (or its number)", st.Message(), strings.Join(values, ", "))
}

// apiEnums maps the name of each enum field of the API's messages to the
// names of its enum's values, but for names that two different enums
// share.
var apiEnums = sync.OnceValue(func() map[string][]string {
	enums := map[string]protoreflect.EnumDescriptor{}
	shared := map[string]bool{}
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "provenance.") {
			return true
		}
		var walk func(ms protoreflect.MessageDescriptors)
		walk = func(ms protoreflect.MessageDescriptors) {
			for i := range ms.Len() {
				md := ms.Get(i)
				for j := range md.Fields().Len() {
					fd := md.Fields().Get(j)
					if fd.Kind() != protoreflect.EnumKind {
						continue
					}
					name := string(fd.Name())
					if e, ok := enums[name]; ok && e.FullName() != fd.Enum().FullName() {
						shared[name] = true
					}
					enums[name] = fd.Enum()
				}
				walk(md.Messages())
			}
		}
		walk(f.Messages())
		return true
	})
	out := map[string][]string{}
	for name, e := range enums {
		if shared[name] {
			continue
		}
		var values []string
		for i := range e.Values().Len() {
			if v := e.Values().Get(i); v.Number() != 0 {
				values = append(values, string(v.Name()))
			}
		}
		out[name] = values
	}
	return out
})
