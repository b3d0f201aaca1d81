//! `table_functions!`: each result row's columns declared once, for the row struct and for the
//! SQL signature of every function that returns a table of such rows.
//!
//! pgrx reads the output column names of a `RETURNS TABLE` function from the `name!(column,
//! type)` entries written in the function's own return type, `TableIterator<'static,
//! (name!(..), ..)>`; a type alias would hide them. So the macro writes that return type from
//! the row struct's fields.

/// Declares a row struct, one field per output column in column order, named like the column,
/// with `into_tuple()` (the row as the tuple its functions yield), then what follows:
///
/// - each function written `-> TableIterator<Row>` gets the return type `TableIterator<'static,
///   (name!(field, type), ...)>` of the struct's fields;
/// - `fn read(row: &SpiHeapTupleData) -> SpiResult<Self>;` (no body) becomes the row's reader
///   from a query whose columns have the fields' names: each field is read from its column
///   ([`ColumnValue`](crate::spi_query::ColumnValue): an `Option` field may be NULL).
macro_rules! table_functions {
    (
        $(#[$row_attr:meta])*
        struct $row:ident $columns:tt
        $($functions:tt)*
    ) => {
        table_functions!(@row [$(#[$row_attr])*] $row $columns);
        table_functions!(@functions $row $columns $($functions)*);
    };
    (@row [$($row_attr:tt)*] $row:ident { $($column:ident: $ty:ty),* $(,)? }) => {
        $($row_attr)*
        struct $row {
            $($column: $ty,)*
        }

        impl $row {
            /// The row as its table functions yield it: the columns in order.
            #[allow(clippy::type_complexity)]
            fn into_tuple(self) -> ($($ty,)*) {
                ($(self.$column,)*)
            }
        }
    };
    (@functions $row:ident $columns:tt) => {};
    (
        @functions $row:ident $columns:tt
        $(#[$attr:meta])*
        fn read(row: &SpiHeapTupleData) -> SpiResult<Self>;
        $($rest:tt)*
    ) => {
        table_functions!(@read $row $columns [$(#[$attr])*]);
        table_functions!(@functions $row $columns $($rest)*);
    };
    (
        @functions $row:ident $columns:tt
        $(#[$attr:meta])*
        fn $name:ident $args:tt -> TableIterator<$ret:ident> $body:tt
        $($rest:tt)*
    ) => {
        table_functions!(@function $columns [$(#[$attr])*] $name $args $body);
        table_functions!(@functions $row $columns $($rest)*);
    };
    (@read $row:ident { $($column:ident: $ty:ty),* $(,)? } [$($attr:tt)*]) => {
        impl $row {
            $($attr)*
            fn read(row: &pgrx::spi::SpiHeapTupleData) -> pgrx::spi::SpiResult<Self> {
                Ok($row {
                    $($column: $crate::spi_query::ColumnValue::read(row, stringify!($column))?,)*
                })
            }
        }
    };
    (
        @function { $($column:ident: $ty:ty),* $(,)? }
        [$($attr:tt)*] $name:ident $args:tt $body:tt
    ) => {
        $($attr)*
        #[allow(clippy::type_complexity)]
        fn $name $args -> TableIterator<'static, ($(name!($column, $ty),)*)> $body
    };
}
