//! `table_functions!`: each result row's columns declared once, for the row struct and for the
//! SQL signature of every function that returns a table of such rows.
//!
//! pgrx reads the output column names of a `RETURNS TABLE` function from the `name!(column,
//! type)` entries written in the function's own return type, `TableIterator<'static,
//! (name!(..), ..)>`; a type alias would hide them. So the macro writes that return type from
//! the row struct's fields.

/// Declares a row struct, one field per output column in column order, named like the column,
/// with `into_tuple()` (the row as the tuple its functions yield), then the functions that
/// follow: each written `-> TableIterator<Row>` gets the return type `TableIterator<'static,
/// (name!(field, type), ...)>` of the struct's fields.
macro_rules! table_functions {
    (
        $(#[$row_attr:meta])*
        struct $row:ident $columns:tt
        $($functions:tt)*
    ) => {
        table_functions!(@row [$(#[$row_attr])*] $row $columns);
        table_functions!(@functions $columns $($functions)*);
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
    (@functions $columns:tt) => {};
    (
        @functions $columns:tt
        $(#[$attr:meta])*
        fn $name:ident $args:tt -> TableIterator<$row:ident> $body:tt
        $($rest:tt)*
    ) => {
        table_functions!(@function $columns [$(#[$attr])*] $name $args $body);
        table_functions!(@functions $columns $($rest)*);
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
